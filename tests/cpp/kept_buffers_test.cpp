#include "backfill/core/kept_buffers.hpp"

#include <gtest/gtest.h>

#include <string>

#include "backfill/core/memory_budget.hpp"
#include "backfill/core/padded_json.hpp"
#include "backfill/core/parser_pool.hpp"

namespace kept = backfill::kept_buffers;
using backfill::json::parser_lease;

namespace {

// A JSON array of about 400 kB: a page-sized parse, past what the pool keeps whatever the allowance.
std::string page_sized_json() {
  std::string s = "[";
  for (int i = 0; i < 40000; ++i) s += (i ? ",\"" : "\"") + std::string(6, 'a') + "\"";
  s += "]";
  s.reserve(s.size() + simdjson::SIMDJSON_PADDING);
  return s;
}

void parse_page(parser_lease& p, const std::string& json) {
  simdjson::dom::element root;
  ASSERT_FALSE(backfill::json::parse_padded(*p, json, root));
}

}  // namespace

TEST(KeptBuffers, KeepsIdleBytesOnlyWithinTheAllowance) {
  const std::size_t before = kept::kept();
  EXPECT_EQ(kept::allowance(), 0u);  // no pipeline alive
  EXPECT_FALSE(kept::try_keep(1));
  kept::add_allowance(before + 100);
  EXPECT_TRUE(kept::try_keep(60));
  EXPECT_FALSE(kept::try_keep(50));
  kept::release(60);
  EXPECT_TRUE(kept::try_keep(50));
  kept::release(50);
  kept::remove_allowance(before + 100);
  EXPECT_EQ(kept::allowance(), 0u);
  EXPECT_EQ(kept::kept(), before);
}

TEST(KeptBuffers, APageSizedParserIsKeptWarmOnlyWithinTheAllowance) {
  const std::string json = page_sized_json();
  backfill::json::release_idle_parsers();
  {
    parser_lease a;
    parse_page(a, json);
  }  // no allowance: freed
  {
    parser_lease b;
    EXPECT_EQ((*b).capacity(), 0u);
  }
  backfill::json::release_idle_parsers();
  kept::add_allowance(64u << 20);
  {
    parser_lease a;
    parse_page(a, json);
  }  // kept, its bytes counted
  EXPECT_GE(kept::kept(), json.size());
  {
    parser_lease b;
    EXPECT_GE((*b).capacity(), json.size());  // warm: a quarter more room than the page
    EXPECT_EQ(kept::kept(), 0u);              // in use again: no longer counted as idle
  }
  backfill::json::release_idle_parsers();
  EXPECT_EQ(kept::kept(), 0u);
  kept::remove_allowance(64u << 20);
}

TEST(MemoryBudget, BytesSetAsideAreNotTheTakers) {
  backfill::memory_budget budget(100);
  budget.set_aside(20);
  EXPECT_EQ(budget.aside(), 20u);
  auto a = budget.try_take(50);
  ASSERT_TRUE(a.has_value());
  EXPECT_FALSE(budget.try_take(40).has_value());  // 50 held + 20 aside + 40 > 100
  EXPECT_TRUE(budget.try_take(30).has_value());
  a.reset();
  EXPECT_TRUE(budget.try_take(90).has_value());  // nothing held: one taker goes through alone
}
