// Telling a page's items apart when some cannot be parsed (backfill/core/json_items.hpp).
#include "backfill/core/json_items.hpp"
#include "backfill/core/padded_json.hpp"

#include <gtest/gtest.h>
#include <simdjson.h>

#include <cstdint>
#include <string>
#include <vector>

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

namespace {

// What whole_answer answers, by its definition: the body parses once every string's contents are
// set aside (what a parse refuses inside a string, mend_items reads around). Not when a string is
// never closed or holds a control byte unescaped; a body that is not UTF-8, or nests past the
// parser's limit, is judged by its structure alone.
bool whole_by_parse(const std::string& body) {
  // Strings as simdjson's stage 1 finds them: a quote after an odd run of backslashes opens or
  // closes none, wherever it is.
  std::string opaque;  // each string's contents an "x"
  bool in_string = false, escaped = false;
  for (char c : body) {
    if (in_string && static_cast<unsigned char>(c) < 0x20) return false;  // a control byte unescaped
    if (escaped || c == '\\') {
      escaped = !escaped;
      if (!in_string) opaque.push_back(c);
      continue;
    }
    if (c == '"') {
      in_string = !in_string;
      opaque += in_string ? "\"x" : "\"";
    } else if (!in_string) {
      opaque.push_back(c);
    }
  }
  if (in_string) return false;  // a string never closed
  if (!simdjson::validate_utf8(body.data(), body.size())) return json::structure_whole(body);
  simdjson::dom::parser parser;
  simdjson::dom::element root;
  switch (parser.parse(opaque).get(root)) {
    case simdjson::SUCCESS: return true;
    case simdjson::DEPTH_ERROR: return json::structure_whole(body);
    default: return false;
  }
}

}  // namespace

TEST(JsonItems, TheWholeAnswerCheckAgreesWithAFullParseOnEveryCutAndMutation) {
  const std::vector<std::string> pages = {
      R"({"issues":[{"key":"A-1","id":10001,"fields":{"summary":"caf\u00e9 \"quoted\"","labels":["a","b"],)"
      R"("n":-1.5e+3,"z":0,"f":0.25,"e":1E9,"ok":true,"no":false,"none":null,"empty":{},"list":[],)"
      R"("nested":[[1,[2,{"x":[{}]}]],{"y":{"z":[true,false,null]}}]}}],"total":1,"isLast":true})",
      "  [ 1 , \"two\" , { \"three\" : 3 } , [ ] , { } , -0 , 1e-7 ]\n",
      "{\"text\":\"tab\\tnew\\nline \xc3\xa9 \xe2\x82\xac "
      "\\ud83d\\ude00\",\"bad\":\"\\q\",\"ctl\":\"a\x01b\"}",
      "\"just a string\"",
      "12345",
      "[true,false,null]",
  };
  // Bytes that change what a body means: brackets, separators, quotes, escapes, scalars' letters.
  const std::string swaps = "{}[]:,\"\\ tfnrue0123-.eE+x\xff\x80";
  std::uint64_t seed = 0x9e3779b97f4a7c15ULL;
  const auto next = [&] {
    seed ^= seed << 13;
    seed ^= seed >> 7;
    seed ^= seed << 17;
    return seed;
  };
  std::size_t checked = 0, whole = 0;
  const auto check = [&](std::string body) {
    const bool expected = whole_by_parse(body);
    body.reserve(body.size() + simdjson::SIMDJSON_PADDING);
    ASSERT_EQ(json::whole_answer(body), expected) << body;
    ++checked;
    whole += expected;
  };
  for (const std::string& page : pages) {
    for (std::size_t cut = 0; cut <= page.size(); ++cut) check(page.substr(0, cut));
    for (int m = 0; m < 3000; ++m) {
      std::string body = page;
      for (std::uint64_t k = 0, edits = 1 + next() % 3; k < edits; ++k) {
        const std::size_t at = next() % body.size();
        const char c = swaps[next() % swaps.size()];
        switch (next() % 3) {
          case 0: body[at] = c; break;
          case 1: body.insert(body.begin() + static_cast<std::ptrdiff_t>(at), c); break;
          default:
            if (body.size() > 1) body.erase(at, 1);
        }
      }
      check(body);
    }
  }
  EXPECT_GT(checked, 18000u);
  EXPECT_GT(whole, 1000u);  // both verdicts are exercised
  EXPECT_GT(checked - whole, 1000u);
  // Nesting past the parser's limit is judged by the structure alone, as a parse refusing it is.
  std::string too_deep = deep(2000);
  EXPECT_EQ(json::whole_answer(too_deep), whole_by_parse(too_deep));
  std::string cut_deep = deep(2000).substr(0, 3000);
  EXPECT_FALSE(json::whole_answer(cut_deep));
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
