// The pure parts of the Slack Web API source: the pacer's spacing per method and what tier "auto"
// learns, and the fetch cursor's round trip.
#include <gtest/gtest.h>

#include "backfill/core/errors.hpp"
#include "backfill/sources/slack_api/cursor.hpp"
#include "backfill/sources/slack_api/pacer.hpp"

namespace backfill::slack_api {
namespace {

using clock = pacer::clock;

TEST(SlackApiPacer, SpacesEachMethodAtItsTier) {
  pacer p(tier_mode::marketplace, 1.0);
  const auto t0 = clock::now();
  EXPECT_EQ(p.reserve("conversations.history", t0), 0.0);
  EXPECT_NEAR(p.reserve("conversations.history", t0), 1.2 * 1.02, 1e-6);  // Tier 3: 50 a minute
  EXPECT_NEAR(p.reserve("conversations.history", t0), 2.4 * 1.02, 1e-6);
  EXPECT_EQ(p.reserve("users.list", t0), 0.0);                 // its own bucket
  EXPECT_NEAR(p.reserve("users.list", t0), 3.0 * 1.02, 1e-6);  // Tier 2: 20 a minute
  EXPECT_EQ(p.page_limit("conversations.history", 200), 200);
}

TEST(SlackApiPacer, NonMarketplaceIsOneAMinuteAndFifteenAPage) {
  pacer p(tier_mode::non_marketplace, 1.0);
  const auto t0 = clock::now();
  EXPECT_EQ(p.reserve("conversations.replies", t0), 0.0);
  EXPECT_NEAR(p.reserve("conversations.replies", t0), 60 * 1.02, 1e-6);
  EXPECT_EQ(p.page_limit("conversations.history", 200), 15);
  EXPECT_EQ(p.page_limit("conversations.list", 200), 200);
  EXPECT_NEAR(p.seconds_for("conversations.history", 11), 600 * 1.02, 1e-6);
}

TEST(SlackApiPacer, AutoLearnsFromA429OrAPageCutToFifteen) {
  pacer a(tier_mode::automatic, 1.0);
  EXPECT_FALSE(a.saw_rate_limit("users.list"));
  EXPECT_FALSE(a.saw_page("conversations.history", 200, 7, true));  // fewer than asked happens anyway
  EXPECT_FALSE(a.saw_page("conversations.history", 15, 15, true));  // asked for 15
  EXPECT_TRUE(a.saw_page("conversations.history", 200, 15, true));
  EXPECT_TRUE(a.non_marketplace());
  pacer b(tier_mode::automatic, 1.0);
  EXPECT_TRUE(b.saw_rate_limit("conversations.replies"));
  EXPECT_FALSE(b.saw_rate_limit("conversations.replies"));  // once
  pacer fixed(tier_mode::marketplace, 1.0);
  EXPECT_FALSE(fixed.saw_rate_limit("conversations.history"));
  EXPECT_FALSE(fixed.non_marketplace());
}

TEST(SlackApiPacer, ADeferredMethodWaitsPastTheRetry) {
  pacer p(tier_mode::marketplace, 1.0);
  const auto t0 = clock::now();
  p.reserve("conversations.history", t0);
  p.defer("conversations.history", 10, t0);
  EXPECT_NEAR(p.reserve("conversations.history", t0), 10 + 1.2 * 1.02, 1e-6);
}

TEST(SlackApiPacer, TierNames) {
  EXPECT_EQ(parse_tier("auto"), tier_mode::automatic);
  EXPECT_EQ(parse_tier("non_marketplace"), tier_mode::non_marketplace);
  EXPECT_THROW(parse_tier("tier3"), config_error);
}

TEST(SlackApiCursor, RoundTrips) {
  channel_cursor c;
  c.oldest = "1700000000.000000";
  c.latest = "1800000000.000000";
  c.replies_since = "1750000000.000000";
  c.history = "bmV4dF90czoxNTEyMDg1ODYxMDAwNTQz";
  c.roots = {"1700000001.000100", "1700000002.000200"};
  c.replies = "dXNlcjpVMDYxTkZUVDI=";
  const auto back = channel_cursor::decode(c.encode());
  ASSERT_TRUE(back);
  EXPECT_EQ(back->encode(), c.encode());
  EXPECT_EQ(back->roots, c.roots);
  EXPECT_FALSE(back->finished());
  EXPECT_FALSE(channel_cursor::decode("2024-01-01.json"));
  channel_cursor done;
  done.history_done = true;
  EXPECT_TRUE(channel_cursor::decode(done.encode())->finished());
}

}  // namespace
}  // namespace backfill::slack_api
