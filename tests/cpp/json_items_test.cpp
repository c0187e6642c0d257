// Telling a page's items apart when some cannot be parsed (backfill/core/json_items.hpp).
#include "backfill/core/json_items.hpp"
#include "backfill/core/padded_json.hpp"

#include <gtest/gtest.h>
#include <simdjson.h>

#include <string>

using namespace backfill;
using backfill::json::item_layout;
using backfill::json::unreadable_item;

namespace {

std::string deep(std::size_t levels) { return std::string(levels, '[') + std::string(levels, ']'); }

const item_layout jira{"/search/issues", "key", "jira:"};

}  // namespace

TEST(JsonItems, AnInvalidUtf8ItemIsNamedAndNulledAndTheRestReads) {
  const std::string body =
      "{\"search\":{\"issues\":[{\"key\":\"A-1\",\"f\":\"ok\"},{\"key\":\"A-2\",\"f\":\"bad \xff\xfe\"},"
      "{\"key\":\"A-3\"}],\"isLast\":true},\"comments\":{}}";
  std::string mended;
  std::vector<unreadable_item> bad;
  ASSERT_TRUE(json::mend_items(body, jira, mended, bad));
  ASSERT_EQ(bad.size(), 1u);
  EXPECT_EQ(bad[0].position, 1u);
  EXPECT_EQ(bad[0].id, "jira:A-2");
  EXPECT_NE(bad[0].reason.find("UTF-8"), std::string::npos);
  EXPECT_EQ(
      mended,
      R"({"search":{"issues":[{"key":"A-1","f":"ok"},null,{"key":"A-3"}],"isLast":true},"comments":{}})");
}

TEST(JsonItems, ALoneSurrogateAndNestingTooDeepAreUnreadableItems) {
  const std::string body =
      R"({"documents":[{"id":"x","t":"\ud800"},{"id":"y"},{"id":"z","n":)" + deep(1030) + "}]}";
  std::string mended;
  std::vector<unreadable_item> bad;
  ASSERT_TRUE(json::mend_items(body, {"/documents", "id", ""}, mended, bad));
  ASSERT_EQ(bad.size(), 2u);
  EXPECT_EQ(bad[0].id, "x");
  EXPECT_NE(bad[0].reason.find("surrogate"), std::string::npos);
  EXPECT_EQ(bad[1].position, 2u);
  EXPECT_EQ(bad[1].id, "z");
  EXPECT_NE(bad[1].reason.find("deeper"), std::string::npos);
  EXPECT_EQ(mended, R"({"documents":[null,{"id":"y"},null]})");
}

TEST(JsonItems, ABodyCutShortOrMalformedCannotBeMended) {
  std::string mended;
  std::vector<unreadable_item> bad;
  EXPECT_FALSE(
      json::mend_items(R"({"documents":[{"id":"x"},{"id":"y")", {"/documents", "id", ""}, mended, bad));
  EXPECT_FALSE(json::mend_items("<html>502</html>", {"/documents", "id", ""}, mended, bad));
  EXPECT_FALSE(json::mend_items(R"({"other":[1]})", {"/documents", "id", ""}, mended, bad));
  EXPECT_TRUE(bad.empty());
  EXPECT_FALSE(json::structure_whole(R"({"a":"b)"));
  EXPECT_FALSE(json::structure_whole(R"({"a":[1,2})"));
  EXPECT_TRUE(json::structure_whole("[\"\xff\"]"));
}

TEST(JsonItems, AWholeAnswerParsesOrFailsOnlyInsideItsStrings) {
  auto padded = [](std::string s) {
    s.reserve(s.size() + simdjson::SIMDJSON_PADDING);
    return s;
  };
  EXPECT_TRUE(json::whole_answer(padded(R"({"issues":[]})")));
  EXPECT_TRUE(json::whole_answer(padded("{\"issues\":[\"\xff\"]}")));
  EXPECT_FALSE(json::whole_answer(padded(R"({"issues":[{"key":"A-1"},{"ke)")));
  EXPECT_FALSE(json::whole_answer(padded(R"({"issues":[1,]})")));
}

TEST(JsonItems, ReadableIsTheBodyItselfWhenItParses) {
  std::string body = R"({"documents":[{"id":"x"}]})";
  std::string scratch;
  std::vector<unreadable_item> bad;
  EXPECT_EQ(&json::readable(body, {"/documents", "id", ""}, scratch, bad), &body);
  std::string broken = "{\"documents\":[{\"id\":\"x\xff\"}]}";
  EXPECT_EQ(json::readable(broken, {"/documents", "id", ""}, scratch, bad), R"({"documents":[null]})");
  ASSERT_EQ(bad.size(), 1u);
  EXPECT_EQ(bad[0].id, "x");  // the printable part of an id that is not valid UTF-8
}

TEST(JsonItems, APageThatIsTheArrayAndANamingHookNameTheItems) {
  const std::string body = "[{\"ts\":\"1.1\"},{\"ts\":\"1.2\",\"t\":\"\xff\"},{\"ts\":\"1.3\"}]";
  std::string mended;
  std::vector<unreadable_item> bad;
  item_layout bare;
  bare.at_root = true;  // no id field: still a place where items are
  ASSERT_TRUE(json::mend_items(body, bare, mended, bad));
  ASSERT_EQ(bad.size(), 1u);
  EXPECT_EQ(bad[0].position, 1u);
  EXPECT_EQ(bad[0].id, "");
  EXPECT_EQ(mended, R"([{"ts":"1.1"},null,{"ts":"1.3"}])");

  const std::string page =
      "{\"kind\":\"issues\",\"repo\":\"acme/widgets\",\"body\":[{\"number\":7,\"title\":\"\xff\"}]}";
  item_layout named{"/body", "", ""};
  named.name = [](std::string_view p, std::string_view item) {
    return json::raw_member(p, "repo") + "#" + json::raw_member(item, "number");
  };
  bad.clear();
  ASSERT_TRUE(json::mend_items(page, named, mended, bad));
  ASSERT_EQ(bad.size(), 1u);
  EXPECT_EQ(bad[0].id, "acme/widgets#7");
  EXPECT_EQ(json::raw_member(R"({"a":{"b":1},"id":"x\u0041"})", "id"), "x\\u0041");  // the raw bytes
  EXPECT_EQ(json::raw_member(R"({"a":1})", "id"), "");
}

// A journal page is parsed once when it is read: the readability check hands its parse to the
// source's normalize, for those very bytes only.
TEST(JsonItems, TheCheckHandsItsParseToTheReaderOfTheSamePageOnly) {
  std::string body = R"({"documents":[{"id":"a"}]})";
  body.reserve(body.size() + simdjson::SIMDJSON_PADDING);
  std::string scratch;
  std::vector<unreadable_item> bad;
  ASSERT_EQ(&json::readable(body, {"/documents", "id", ""}, scratch, bad), &body);
  simdjson::dom::element root;
  ASSERT_EQ(json::parse_page(body, root), simdjson::SUCCESS);
  std::string_view id;
  ASSERT_EQ(root.at_pointer("/documents/0/id").get(id), simdjson::SUCCESS);
  EXPECT_EQ(id, "a");

  // The same buffer refilled with other bytes of the same size after the reader returned: parsed afresh.
  ASSERT_EQ(&json::readable(body, {"/documents", "id", ""}, scratch, bad), &body);
  json::drop_page_parse();
  const char* at = body.data();
  body.replace(0, body.size(), R"({"documents":[{"id":"b"}]})");
  ASSERT_EQ(body.data(), at);
  ASSERT_EQ(json::parse_page(body, root), simdjson::SUCCESS);
  ASSERT_EQ(root.at_pointer("/documents/0/id").get(id), simdjson::SUCCESS);
  EXPECT_EQ(id, "b");

  // Other bytes than the checked ones are parsed, never given the check's parse.
  std::string other = R"({"documents":[{"id":"c"}]})";
  other.reserve(other.size() + simdjson::SIMDJSON_PADDING);
  ASSERT_EQ(&json::readable(body, {"/documents", "id", ""}, scratch, bad), &body);
  ASSERT_EQ(json::parse_page(other, root), simdjson::SUCCESS);
  ASSERT_EQ(root.at_pointer("/documents/0/id").get(id), simdjson::SUCCESS);
  EXPECT_EQ(id, "c");
}

// A reader that takes a page's handed-over parse (as page_items does) inside share_page_parse leaves
// it for the next reader of the same bytes (normalize): one parse for both. A reader that parses
// other bytes into the page parser meanwhile ends the hand-over, so the next reader parses afresh.
TEST(JsonItems, ASharedPageParseServesTheNextReaderUnlessTheParserWasUsedMeanwhile) {
  std::string body = R"({"documents":[{"id":"a"}]})";
  body.reserve(body.size() + simdjson::SIMDJSON_PADDING);
  std::string scratch;
  std::vector<unreadable_item> bad;
  ASSERT_EQ(&json::readable(body, {"/documents", "id", ""}, scratch, bad), &body);
  const std::uint64_t parses = json::detail::page_parses();
  std::string_view id;
  json::share_page_parse(body, [&] {
    simdjson::dom::element root;
    ASSERT_EQ(json::parse_page(body, root), simdjson::SUCCESS);
    ASSERT_EQ(root.at_pointer("/documents/0/id").get(id), simdjson::SUCCESS);
  });
  EXPECT_EQ(id, "a");
  simdjson::dom::element root;
  ASSERT_EQ(json::parse_page(body, root), simdjson::SUCCESS);
  ASSERT_EQ(root.at_pointer("/documents/0/id").get(id), simdjson::SUCCESS);
  EXPECT_EQ(id, "a");
  EXPECT_EQ(json::detail::page_parses(), parses);  // neither reader parsed

  std::string other = R"({"documents":[{"id":"c"}]})";
  other.reserve(other.size() + simdjson::SIMDJSON_PADDING);
  ASSERT_EQ(&json::readable(body, {"/documents", "id", ""}, scratch, bad), &body);
  json::share_page_parse(body, [&] { ASSERT_EQ(json::parse_page(other, root), simdjson::SUCCESS); });
  const std::uint64_t before = json::detail::page_parses();
  ASSERT_EQ(json::parse_page(body, root), simdjson::SUCCESS);
  EXPECT_EQ(json::detail::page_parses(), before + 1);  // parsed afresh
  ASSERT_EQ(root.at_pointer("/documents/0/id").get(id), simdjson::SUCCESS);
  EXPECT_EQ(id, "a");
}
