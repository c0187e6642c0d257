// task_group: errors by index, a stop that ends the others, ticks on the waiting thread.
#include "backfill/core/task_group.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <stdexcept>
#include <string>
#include <thread>

#include "backfill/core/errors.hpp"

using namespace backfill;
using namespace std::chrono_literals;

TEST(TaskGroup, RunsEveryJobOnTheWorkersAndWaits) {
  task_group g;
  std::atomic<int> sum{0};
  std::atomic<std::size_t> max_worker{0};
  g.for_each(100, 4, [&](std::size_t i, std::size_t w) {
    sum += static_cast<int>(i);
    std::size_t seen = max_worker.load();
    while (w > seen && !max_worker.compare_exchange_weak(seen, w)) {
    }
  });
  g.wait();
  EXPECT_EQ(sum.load(), 4950);
  EXPECT_LT(max_worker.load(), 4u);
}

TEST(TaskGroup, TheLowestFailingJobIsRaised) {
  task_group g;
  g.for_each(20, 3, [&](std::size_t i, std::size_t) {
    if (i == 1) {
      std::this_thread::sleep_for(5ms);  // job 2 fails first in time; job 1 still wins by index
      throw std::runtime_error("job 1");
    }
    if (i == 2) throw std::runtime_error("job 2");
    while (i > 2 && !g.stopping()) std::this_thread::sleep_for(1ms);
  });
  try {
    g.wait();
    FAIL() << "no error raised";
  } catch (const std::runtime_error& e) {
    EXPECT_EQ(std::string(e.what()), "job 1");
  }
}

TEST(TaskGroup, NoJobStartsOnceTheGroupIsStopping) {
  task_group g;
  std::atomic<int> started{0};
  g.for_each(1000, 3, [&](std::size_t i, std::size_t) {
    ++started;
    if (i == 0) throw std::runtime_error("job 0");
    while (!g.stopping()) std::this_thread::sleep_for(1ms);  // the others hold their job until the stop
  });
  EXPECT_THROW(g.wait(), std::runtime_error);
  // Each worker holds at most one job from before the stop and may take one more in the instant the
  // stop is set between its check and its take: never more than 2 a worker.
  EXPECT_LE(started.load(), 6);
}

TEST(TaskGroup, ACancelEchoingAFailureNeverHidesIt) {
  task_group g;
  g.spawn([&] {  // index 0: ends because its sibling failed
    while (!g.stopping()) std::this_thread::sleep_for(1ms);
    throw cancelled();
  });
  g.spawn([] { throw sink_error("the real failure"); });
  EXPECT_THROW(g.wait(), sink_error);
}

TEST(TaskGroup, ACancelAloneIsRaised) {
  task_group g;
  g.spawn([] { throw cancelled(); });
  EXPECT_THROW(g.wait(), cancelled);
}

TEST(TaskGroup, ATickThatThrowsStopsAndJoinsEveryTask) {
  task_group g;
  std::atomic<bool> ended{false};
  g.spawn([&] {
    while (!g.stopping()) std::this_thread::sleep_for(1ms);
    ended = true;
  });
  int ticks = 0;
  EXPECT_THROW(g.wait(
                   [&] {
                     if (++ticks == 3) throw cancelled();
                   },
                   2ms),
               cancelled);
  EXPECT_TRUE(ended.load());
  EXPECT_EQ(ticks, 3);
}

TEST(TaskGroup, TheDestructorStopsAndJoinsWithoutThrowing) {
  std::atomic<bool> ended{false};
  {
    task_group g;
    g.spawn([&] {
      while (!g.stopping()) std::this_thread::sleep_for(1ms);
      ended = true;
      throw std::runtime_error("nobody waits for this");
    });
  }
  EXPECT_TRUE(ended.load());
}
