#include "backfill/pack/sanitize.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "backfill/core/errors.hpp"
#include "backfill/core/json.hpp"

using namespace backfill;

TEST(Sanitize, KeepsAllowedTypesDropsNullsFlattensObjects) {
  sanitize_report r;
  auto out = sanitize_metadata(
      R"({"s":"x","n":1.5,"b":true,"l":["a","b"],"z":null,"o":{"p":1,"q":{"r":"deep"}}})", {}, r);
  ASSERT_TRUE(out);
  EXPECT_EQ(*out, R"({"b":true,"l":["a","b"],"n":1.5,"o.p":1,"o.q.r":"deep","s":"x"})");
  EXPECT_EQ(r.dropped.at("z"), 1);
  EXPECT_EQ(r.flattened.at("o"), 1);
  EXPECT_TRUE(r.truncated.empty());
}

TEST(Sanitize, ListItemsBecomeStrings) {
  sanitize_report r;
  auto out = sanitize_metadata(R"({"l":["a",1,true,null,{"k":2}]})", {}, r);
  EXPECT_EQ(*out, R"({"l":["a","1","true","{\"k\":2}"]})");
  EXPECT_EQ(r.converted.at("l"), 1);
}

TEST(Sanitize, FitsTheLimitExactlyTruncatingTextFirstAndIdentityLast) {
  std::string big(45000, 'x');
  std::string in = R"({"doc_id":"jira:SUBS-1","title":"A title","other":")" + std::string(3000, 'o') +
                   R"(","text":")" + big + R"("})";
  sanitize_options o;
  sanitize_report r;
  auto out = sanitize_metadata(in, o, r);
  ASSERT_TRUE(out);
  EXPECT_LE(out->size(), 40960u);
  EXPECT_GE(out->size(), 40960u - 8);  // uses the room it has
  EXPECT_EQ(r.truncated.at("text"), 1);
  EXPECT_EQ(r.truncated.count("other"), 0u);  // text alone was enough
  EXPECT_NE(out->find(R"("doc_id":"jira:SUBS-1")"), std::string::npos);
  EXPECT_NE(out->find(R"("title":"A title")"), std::string::npos);
  EXPECT_EQ(json::canonicalize(*out), *out);
}

TEST(Sanitize, NeverCutsACodePointAndCountsEscapes) {
  std::string text;
  for (int i = 0; i < 20000; ++i) text += "東\"";  // 3 bytes + an escaped quote (2 bytes) each
  std::string in = R"({"text":")";
  for (char c : text) {
    if (c == '"')
      in += "\\\"";
    else
      in.push_back(c);
  }
  in += "\"}";
  sanitize_options o;
  o.max_bytes = 1000;
  sanitize_report r;
  auto out = sanitize_metadata(in, o, r);
  ASSERT_TRUE(out);
  EXPECT_LE(out->size(), 1000u);
  EXPECT_TRUE(json::valid_utf8(*out));
  EXPECT_EQ(json::canonicalize(*out), *out);
}

TEST(Sanitize, DropsWhatCannotShrinkAndGivesUpOnlyWhenKeysAloneDoNotFit) {
  sanitize_options o;
  o.max_bytes = 60;
  sanitize_report r;
  auto out = sanitize_metadata(R"({"doc_id":"abc","n1":1,"n2":2,"n3":3,"n4":4,"n5":5,"n6":6,"n7":7})", o, r);
  ASSERT_TRUE(out);
  EXPECT_LE(out->size(), 60u);
  EXPECT_FALSE(r.dropped.empty());
  EXPECT_NE(out->find("doc_id"), std::string::npos);
  o.max_bytes = 5;
  EXPECT_FALSE(sanitize_metadata(R"({"doc_id":"abc"})", o, r));
  EXPECT_THROW(sanitize_metadata("[1,2]", o, r), error);
}

TEST(Sanitize, FitIdIsDeterministicAndKeepsIdsDistinct) {
  EXPECT_EQ(fit_id("short", 512), "short");
  std::string a(600, 'a'), b(600, 'a');
  b[599] = 'b';
  auto fa = fit_id(a, 512), fb = fit_id(b, 512);
  EXPECT_LE(fa.size(), 512u);
  EXPECT_NE(fa, fb);
  EXPECT_EQ(fa, fit_id(a, 512));
  std::string wide;
  for (int i = 0; i < 300; ++i) wide += "東";
  EXPECT_TRUE(json::valid_utf8(fit_id(wide, 512)));
}

TEST(FitMetadata, LeavesWhatFitsAsItIs) {
  sanitize_options o;
  sanitize_report r;
  for (std::string clean :
       {std::string(), std::string("{}"), std::string(R"({"a":1,"b":"x","c":["y"],"d":true})"),
        std::string(R"({"text":"a nullable {brace} annulled"})")}) {
    std::string meta = clean;
    EXPECT_TRUE(fit_metadata(meta, o, r));
    EXPECT_EQ(meta, clean);
  }
  EXPECT_TRUE(r.empty());
}

TEST(FitMetadata, SanitizesNullsNestingAndSizeInPlace) {
  sanitize_options o;
  sanitize_report r;
  // A null at every offset of a 16-byte block is found.
  for (std::size_t pad = 0; pad < 20; ++pad) {
    std::string meta = R"({"a":")" + std::string(pad, 'n') + R"(","z":null})";
    EXPECT_TRUE(fit_metadata(meta, o, r));
    EXPECT_EQ(meta, R"({"a":")" + std::string(pad, 'n') + R"("})");
  }
  EXPECT_EQ(r.dropped.at("z"), 20);
  std::string nested = R"({"o":{"p":1}})";
  EXPECT_TRUE(fit_metadata(nested, o, r));
  EXPECT_EQ(nested, R"({"o.p":1})");
  EXPECT_EQ(r.flattened.at("o"), 1);
  o.max_bytes = 100;
  std::string big = R"({"doc_id":"d","text":")" + std::string(500, 't') + R"("})";
  EXPECT_TRUE(fit_metadata(big, o, r));
  EXPECT_LE(big.size(), 100u);
  EXPECT_EQ(r.truncated.at("text"), 1);
  o.max_bytes = 10;
  std::string identity = R"({"chunk":12345678901234})";  // a number cannot be shortened
  EXPECT_FALSE(fit_metadata(identity, o, r)) << "an identity field that cannot fit: the record is not sent";
}

// fit_metadata passes metadata unparsed when a quick look finds no null value and no nested object;
// the word null or a brace inside a text must not hide one. Each case fits as the parse fits it.
TEST(Sanitize, TheQuickLookNeverPassesWhatTheParseWouldChange) {
  const std::vector<std::string> cases = {
      R"({"text":"returns null when the map is {} or {\"a\":1}","title":"t"})",  // passes as it is
      R"({"text":"x:null, [null and ,null","title":"t"})",  // parsed for nothing, unchanged
      R"({"text":"a","z":null})",
      R"({"text":"a","z": null})",
      R"({"text":"a","z":
null})",
      R"({"l":["a",null],"text":"b"})",
      R"({"l":["a", null]})",
      R"({"o":{"p":1},"text":"b"})",
      R"({"l":["x",{"k":2}]})",
      R"({"l":["x", {"k":2}]})",
      R"({"s":"null","t":"{x}"})",
  };
  for (const auto& in : cases) {
    sanitize_report quick, parsed;
    std::string fitted = in;
    ASSERT_TRUE(fit_metadata(fitted, {}, quick)) << in;
    auto expected = sanitize_metadata(in, {}, parsed);
    ASSERT_TRUE(expected) << in;
    EXPECT_EQ(fitted, *expected) << in;
  }
}
