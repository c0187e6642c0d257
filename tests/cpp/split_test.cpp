#include "backfill/core/split.hpp"

#include <string_view>
#include <vector>

#include <gtest/gtest.h>

#include "backfill/core/padded_json.hpp"

namespace backfill {
namespace {

using fields = std::vector<std::string_view>;

TEST(Split, KeepsEveryFieldIncludingEmptyOnes) {
  EXPECT_EQ(split("a;b;c", ';'), (fields{"a", "b", "c"}));
  EXPECT_EQ(split("", ';'), (fields{""}));
  EXPECT_EQ(split("a,", ','), (fields{"a", ""}));
  EXPECT_EQ(split(",a,,b", ','), (fields{"", "a", "", "b"}));
  EXPECT_EQ(split(" x , y ", ','), (fields{" x ", " y "}));
}

TEST(PaddedJson, ParsesWithAndWithoutPaddingRoom) {
  simdjson::dom::parser parser;
  simdjson::dom::element root;
  std::string tight = R"({"a":1})";
  tight.shrink_to_fit();
  ASSERT_EQ(json::parse_padded(parser, tight, root), simdjson::SUCCESS);
  EXPECT_EQ(int64_t(root["a"]), 1);
  std::string roomy = R"({"a":2})";
  roomy.reserve(roomy.size() + simdjson::SIMDJSON_PADDING);
  ASSERT_EQ(json::parse_padded(parser, roomy, root), simdjson::SUCCESS);
  EXPECT_EQ(int64_t(root["a"]), 2);
  EXPECT_NE(json::parse_padded(parser, std::string("{nope"), root), simdjson::SUCCESS);
}

}  // namespace
}  // namespace backfill
