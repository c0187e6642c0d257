// The walk over a page's structural index: values read as simdjson's DOM reads them, values passed
// over whatever they hold, and a refusal (never a guess) for what it does not read.
#include "backfill/core/json_walk.hpp"

#include <gtest/gtest.h>
#include <simdjson.h>

#include <string>
#include <vector>

using backfill::json::walk;

namespace {

std::string padded(std::string s) {
  s.reserve(s.size() + simdjson::SIMDJSON_PADDING);
  return s;
}

}  // namespace

TEST(JsonWalk, PassesOverNestedValuesAndReadsTheMembersAfterThem) {
  const std::string body = padded(
      R"({"skip":{"a":[1,{"b":[[],{}]},"c\"]}{["],"d":null},"n":-12,"u":18446744073709551615,)"
      R"("big":9223372036854775808,"f":2.5,"e":1e3,"t":true,"s":"plain","esc":"a\nb","arr":[1,[2,3],{"x":[]}]})");
  auto w = walk::index(body);
  ASSERT_TRUE(w);
  ASSERT_TRUE(w->enter_object());
  std::vector<std::string> keys;
  std::string_view key;
  while (w->next_member(key)) {
    keys.emplace_back(key);
    if (key == "n") {
      walk again = *w;
      EXPECT_EQ(w->int64(), -12);
      EXPECT_EQ(again.uint64(), std::nullopt);  // negative: another type for unsigned
      EXPECT_FALSE(again.failed());
    } else if (key == "u") {
      walk again = *w;
      EXPECT_EQ(w->int64(), std::nullopt);  // past INT64_MAX: unsigned, as the DOM keeps it
      EXPECT_FALSE(w->failed());
      EXPECT_EQ(again.uint64(), 18446744073709551615ull);
    } else if (key == "big") {
      EXPECT_EQ(w->int64(), std::nullopt);
    } else if (key == "f" || key == "e") {
      EXPECT_EQ(w->int64(), std::nullopt);  // a fraction or an exponent: another type
      EXPECT_FALSE(w->failed());
    } else if (key == "t") {
      EXPECT_EQ(w->boolean(), true);
    } else if (key == "s") {
      EXPECT_EQ(w->string(), "plain");
    } else if (key == "esc") {
      walk again = *w;
      EXPECT_EQ(w->string(), std::nullopt);  // escapes are not read here
      EXPECT_TRUE(w->failed());
      ASSERT_TRUE(again.skip());  // but a value with them is passed over
      *w = again;
    } else if (key == "arr") {
      ASSERT_TRUE(w->enter_array());
      int elements = 0;
      while (w->next_element()) {
        ++elements;
        ASSERT_TRUE(w->skip());
      }
      EXPECT_EQ(elements, 3);
    } else {
      ASSERT_TRUE(w->skip());
    }
  }
  EXPECT_FALSE(w->failed());
  EXPECT_TRUE(w->done());
  EXPECT_EQ(keys, (std::vector<std::string>{"skip", "n", "u", "big", "f", "e", "t", "s", "esc", "arr"}));
}

TEST(JsonWalk, AValueOfAnotherTypeIsPassedOverAndReadsAsAbsent) {
  const std::string body = padded(R"({"a":{"x":[1,2]},"b":"text","c":[true],"d":false})");
  auto w = walk::index(body);
  ASSERT_TRUE(w);
  ASSERT_TRUE(w->enter_object());
  std::string_view key;
  ASSERT_TRUE(w->next_member(key));
  EXPECT_EQ(w->string(), std::nullopt);  // an object where a string was asked for
  ASSERT_TRUE(w->next_member(key));
  EXPECT_EQ(key, "b");
  EXPECT_EQ(w->int64(), std::nullopt);
  ASSERT_TRUE(w->next_member(key));
  EXPECT_EQ(w->boolean(), std::nullopt);  // an array
  ASSERT_TRUE(w->next_member(key));
  EXPECT_EQ(key, "d");
  EXPECT_EQ(w->boolean(), false);
  EXPECT_FALSE(w->next_member(key));
  EXPECT_FALSE(w->failed());
  EXPECT_TRUE(w->done());
}

TEST(JsonWalk, EmptyContainersAndARootArray) {
  const std::string body = padded(R"([{},[],{"k":{}},"s"])");
  auto w = walk::index(body);
  ASSERT_TRUE(w);
  ASSERT_TRUE(w->enter_array());
  ASSERT_TRUE(w->next_element());
  ASSERT_TRUE(w->enter_object());
  std::string_view key;
  EXPECT_FALSE(w->next_member(key));  // {}
  ASSERT_TRUE(w->next_element());
  ASSERT_TRUE(w->enter_array());
  EXPECT_FALSE(w->next_element());  // []
  ASSERT_TRUE(w->next_element());
  ASSERT_TRUE(w->enter_object());
  ASSERT_TRUE(w->next_member(key));
  ASSERT_TRUE(w->enter_object());
  EXPECT_FALSE(w->next_member(key));  // the inner {}
  EXPECT_FALSE(w->next_member(key));  // and the outer object's end
  ASSERT_TRUE(w->next_element());
  EXPECT_EQ(w->string(), "s");
  EXPECT_FALSE(w->next_element());
  EXPECT_FALSE(w->failed());
  EXPECT_TRUE(w->done());
}

TEST(JsonWalk, WhatStageOneRefusesIsNotWalked) {
  EXPECT_FALSE(walk::index(padded("{\"a\":\"\xff\"}")));  // invalid UTF-8
  EXPECT_FALSE(walk::index(padded(R"({"a":"unclosed)")));
  EXPECT_FALSE(walk::index(padded("")));
  std::string unpadded = R"({"a":1})";
  unpadded.shrink_to_fit();
  if (unpadded.capacity() < unpadded.size() + simdjson::SIMDJSON_PADDING) {
    EXPECT_FALSE(walk::index(unpadded));  // the stage reads past the end
  }
}
