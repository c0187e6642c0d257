#include "backfill/core/log_queue.hpp"

#include <gtest/gtest.h>

#include "backfill/core/log.hpp"

#include <thread>
#include <vector>

using backfill::log_queue;

TEST(LogQueue, KeepsRecordsInOrderUpToItsCapacityAndCountsTheRest) {
  log_queue q(2);
  q.push(2, "first");
  q.push(3, "second");
  q.push(4, "third");
  auto b = q.take();
  ASSERT_EQ(b.records.size(), 2u);
  EXPECT_EQ(b.records[0], (std::pair<int, std::string>{2, "first"}));
  EXPECT_EQ(b.records[1].second, "second");
  EXPECT_EQ(b.dropped, 1u);
  auto empty = q.take();
  EXPECT_TRUE(empty.records.empty());
  EXPECT_EQ(empty.dropped, 0u);
  q.push(1, "after");
  EXPECT_EQ(q.take().records.size(), 1u);
}

TEST(LogQueue, TakesPushesFromManyThreads) {
  log_queue q(1000);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&] {
      for (int i = 0; i < 300; ++i) q.push(2, "x");
    });
  for (auto& t : threads) t.join();
  auto b = q.take();
  EXPECT_EQ(b.records.size(), 1000u);
  EXPECT_EQ(b.dropped, 200u);
}

TEST(LogQueue, TheCaptureQueueTakesEveryCoreLogRecord) {
  log_queue& q = log_queue::capture();
  backfill::set_log_level(2);
  backfill::logger()->info("captured {}", 1);
  auto b = q.take();
  ASSERT_EQ(b.records.size(), 1u);
  EXPECT_EQ(b.records[0], (std::pair<int, std::string>{2, "captured 1"}));
  EXPECT_EQ(&log_queue::capture(), &q);
}
