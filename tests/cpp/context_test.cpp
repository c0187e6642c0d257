// run_context: what a tick that raises does to the phase it ticks.
#include "backfill/core/context.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <stdexcept>

#include "backfill/core/errors.hpp"

using namespace backfill;

TEST(RunContext, ATickThatRaisesStopsThePhaseAndKeepsItsErrorForTheCaller) {
  int ticks = 0;
  run_context ctx(
      [&](const progress& p) -> bool {
        if (++ticks == 2)
          throw std::invalid_argument("progress callback failed at " + std::to_string(p.done));
        return false;
      },
      std::chrono::milliseconds(0));
  EXPECT_FALSE(ctx.tick_error());
  ctx.begin_phase("fetch", "pages");  // the first tick
  ctx.state().done = 3;
  EXPECT_THROW(ctx.checkpoint(), cancelled);  // the phase unwinds as for a stop
  EXPECT_TRUE(ctx.stop_requested());
  ASSERT_TRUE(ctx.tick_error());
  try {
    std::rethrow_exception(ctx.tick_error());
  } catch (const std::invalid_argument& e) {
    EXPECT_STREQ(e.what(), "progress callback failed at 3");
  }
  EXPECT_THROW(ctx.checkpoint(), cancelled);  // no further tick
  EXPECT_EQ(ticks, 2);
}
