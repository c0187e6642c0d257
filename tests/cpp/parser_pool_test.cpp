#include "backfill/core/parser_pool.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

using backfill::json::parser_lease;

namespace {

// Parses a small array, so the lease's parser holds buffers (a non-zero capacity).
void parse_something(parser_lease& p) {
  simdjson::padded_string json(std::string("[1,2,3]"));
  simdjson::dom::element root;
  ASSERT_FALSE((*p).parse(json).get(root));
}

}  // namespace

TEST(ParserPool, AReleasedParserServesTheNextLeaseWithItsBuffers) {
  simdjson::dom::parser* first = nullptr;
  {
    parser_lease a;
    parse_something(a);
    first = &*a;
  }
  parser_lease b;
  EXPECT_EQ(&*b, first);
  EXPECT_GT((*b).capacity(), 0u);
}

TEST(ParserPool, LeasesHeldAtOnceGetTheirOwnParsers) {
  parser_lease a, b;
  EXPECT_NE(&*a, &*b);
  a.release();
  EXPECT_FALSE(a.held());
  EXPECT_TRUE(b.held());
}

TEST(ParserPool, KeepsOnlyAFewIdleParsersWarm) {
  {
    std::vector<parser_lease> many(6);
    for (auto& p : many) parse_something(p);
  }  // all six go back at once: the pool keeps two, frees the rest
  std::vector<parser_lease> again(6);
  std::size_t warm = 0;
  for (auto& p : again) warm += (*p).capacity() > 0 ? 1 : 0;
  EXPECT_EQ(warm, 2u);
}

TEST(ParserPool, AnEndedStageLetsTheIdleParsersGo) {
  {
    parser_lease a;
    parse_something(a);
  }
  backfill::json::release_idle_parsers();
  parser_lease b;
  EXPECT_EQ((*b).capacity(), 0u);
}
