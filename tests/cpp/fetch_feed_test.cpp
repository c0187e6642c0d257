#include "backfill/journal/fetch_feed.hpp"

#include <gtest/gtest.h>

using namespace backfill;

// The ingest reads partitions a, b, c in this order; ahead() says which fetches may wait.
class FetchFeedPace : public ::testing::Test {
 protected:
  void SetUp() override {
    feed.follow({"a", "b", "c"});
    for (const char* p : {"a", "b", "c"}) feed.partition_started(p, 0);
  }
  void record(const char* partition, int pages) {
    for (int i = 0; i < pages; ++i) feed.page_recorded(partition);
  }
  fetch_feed feed;
};

TEST(FetchFeed, WithoutAnOrderNothingIsAhead) {
  fetch_feed feed;
  feed.partition_started("a", 0);
  for (int i = 0; i < 20; ++i) feed.page_recorded("a");
  EXPECT_FALSE(feed.ahead("a", 1));
  EXPECT_FALSE(feed.ahead("b", 1));
}

TEST_F(FetchFeedPace, OnlyTheLeadGoesOnWhileTheIngestHasEnoughToRead) {
  record("a", 7);
  EXPECT_FALSE(feed.ahead("b", 8));  // 7 pages ready: the ingest could run dry, everyone fetches
  record("a", 1);
  EXPECT_TRUE(feed.ahead("b", 8));
  EXPECT_TRUE(feed.ahead("c", 8));
  EXPECT_FALSE(feed.ahead("a", 8));  // the lead never waits
  // Pages of partitions after the lead are not ready: the ingest cannot read them before a is done.
  record("b", 30);
  feed.page_read("a", 0);
  EXPECT_FALSE(feed.ahead("b", 8));
  EXPECT_FALSE(feed.ahead("c", 8));
}

TEST_F(FetchFeedPace, AFinishedLeadHandsOnItsUnreadPagesAndTheLead) {
  record("a", 10);
  record("b", 3);
  EXPECT_TRUE(feed.ahead("b", 8));
  feed.partition_finished("a");  // b leads now; a's 10 unread pages and b's 3 are ready
  EXPECT_FALSE(feed.ahead("b", 8));
  EXPECT_TRUE(feed.ahead("c", 8));
  for (int seq = 0; seq < 10; ++seq) feed.page_read("a", seq);
  EXPECT_FALSE(feed.ahead("c", 8));  // 3 ready
  record("b", 5);
  EXPECT_TRUE(feed.ahead("c", 8));
  feed.partition_finished("b");
  feed.partition_finished("c");
  EXPECT_FALSE(feed.ahead("c", 1));
}

TEST_F(FetchFeedPace, PagesJournaledBeforeThisRunAreNotCounted) {
  fetch_feed resumed;
  resumed.follow({"a", "b"});
  resumed.page_read("a", 0);  // read before the fetch of a began: an earlier run's page
  resumed.partition_started("a", 5);
  resumed.partition_started("b", 0);
  for (int i = 0; i < 8; ++i) resumed.page_recorded("a");
  for (std::int64_t seq = 0; seq < 5; ++seq) resumed.page_read("a", seq);  // the earlier run's
  EXPECT_TRUE(resumed.ahead("b", 8));
  resumed.page_read("a", 5);
  EXPECT_FALSE(resumed.ahead("b", 8));
}

TEST_F(FetchFeedPace, AnEndedOrAbortedFetchNeverWaits) {
  record("a", 20);
  EXPECT_TRUE(feed.ahead("b", 8));
  feed.abort = true;
  EXPECT_FALSE(feed.ahead("b", 8));
  feed.abort = false;
  feed.finish(nullptr);
  EXPECT_FALSE(feed.ahead("b", 8));
}
