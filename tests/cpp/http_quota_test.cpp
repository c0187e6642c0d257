// The quota model (http/quota.hpp) on an injected clock: requests never exceed what the announced
// budget holds, waits end at the refill time computed (not at the bucket's full reset), and the
// header readers understand OpenAI, Azure, Jira and 429 bodies.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <ctime>

#include "backfill/core/progress_board.hpp"
#include "backfill/http/quota.hpp"
#include "backfill/http/quota_headers.hpp"
#include "backfill/http/retry_after.hpp"

namespace backfill::http {
namespace {

using clock = quota::clock;
using std::chrono::duration;

double secs(clock::duration d) { return duration<double>(d).count(); }

quota_observation readings(std::vector<quota_reading> buckets) {
  quota_observation o;
  o.buckets = std::move(buckets);
  return o;
}

// A server's bucket as OpenAI's: `limit` a minute, refilling continuously.
struct server_bucket {
  double limit;
  double level;
  clock::time_point at;
  double rate() const { return limit / 60; }
  double at_time(clock::time_point t) const { return std::min(limit, level + rate() * secs(t - at)); }
  void take(double n, clock::time_point t) {
    level = at_time(t) - n;
    at = t;
  }
  // What its headers say: whole tokens left, the time until full rounded up to the millisecond.
  quota_reading reading(const char* name, clock::time_point t) const {
    const double left = std::floor(at_time(t));
    return {name, limit, left, std::ceil((limit - left) / rate() * 1000) / 1000};
  }
};

TEST(Quota, NeverSendsWhatTheBudgetCannotHoldAndNeverSleepsPastTheRefillTime) {
  clock::time_point now{std::chrono::hours(1)};
  double slept = 0;
  quota q(
      "test", [&] { return now; },
      [&](clock::duration d) {
        slept += secs(d);
        now += d;
      });
  server_bucket tokens{6000, 6000, now};  // 6,000 tokens a minute: 100 a second
  server_bucket requests{600, 600, now};  // 600 requests a minute: 10 a second
  unsigned seed = 7;
  for (int i = 0; i < 300; ++i) {
    seed = seed * 1103515245u + 12345u;
    const double cost = 1 + (seed >> 8) % 700;  // up to 700 tokens: many requests must wait
    const quota_cost c{1, cost};
    const auto computed = q.when(c);
    const double computed_wait = std::max(0.0, secs(computed - now));
    // What the server's own bucket needs: the wait may be longer only by the rounding of the
    // headers (one whole token, one millisecond), never by the time until the bucket is full.
    const double needed = std::max(
        {0.0, (cost - tokens.at_time(now)) / tokens.rate(), (1 - requests.at_time(now)) / requests.rate()});
    EXPECT_LE(computed_wait, needed + 1 / tokens.rate() + 0.002) << "request " << i;
    const auto before = now;
    slept = 0;
    q.acquire(c);
    EXPECT_LE(now, std::max(before, computed)) << "request " << i << " slept past the computed refill time";
    EXPECT_NEAR(slept, computed_wait, 1e-6) << "request " << i;
    ASSERT_GE(tokens.at_time(now), cost - 1e-6) << "request " << i << " sent over the token budget";
    ASSERT_GE(requests.at_time(now), 1 - 1e-6) << "request " << i << " sent over the request budget";
    tokens.take(cost, now);
    requests.take(1, now);
    now += std::chrono::milliseconds(30);  // the answer's latency
    q.settle(c);
    q.observe(readings({requests.reading("requests", now), tokens.reading("tokens", now)}));
  }
  EXPECT_GT(q.waits().at("test tokens"), 0);
  EXPECT_GT(q.holds(), 0);
}

// Three requests in flight, answered newest first (answers overtake each other on separate
// connections) while the server counts them in the order sent: an older answer, which does not count
// the newer requests, must not give their tokens back. Still no request over the budget, and no wait
// past the time computed.
TEST(Quota, AnswersOvertakingEachOtherNeverLetARequestOverTheBudget) {
  clock::time_point now{std::chrono::hours(1)};
  quota q(
      "test", [&] { return now; }, [&](clock::duration d) { now += d; });
  server_bucket tokens{6000, 6000, now};                 // 100 a second
  q.observe(readings({tokens.reading("tokens", now)}));  // known (else one request at a time)
  struct flight {
    quota_cost taken;
    quota_reading reading;
  };
  std::vector<flight> window;
  unsigned seed = 11;
  int over = 0;
  for (int i = 0; i < 300; ++i) {
    seed = seed * 1103515245u + 12345u;
    const quota_cost c{1, static_cast<double>(1 + (seed >> 8) % 700)};
    const auto computed = q.when(c);
    const auto before = now;
    const quota_cost taken = q.acquire(c);
    EXPECT_LE(now, std::max(before, computed)) << "request " << i << " slept past the computed refill time";
    if (tokens.at_time(now) < c.tokens - 1e-6) ++over;
    tokens.take(c.tokens, now);
    window.push_back({taken, tokens.reading("tokens", now)});  // what the server says when it counts it
    now += std::chrono::milliseconds(10);
    if (window.size() < 3) continue;
    for (auto f = window.rbegin(); f != window.rend(); ++f) {
      q.settle(f->taken);
      q.observe(readings({f->reading}));
    }
    window.clear();
  }
  EXPECT_EQ(over, 0) << "requests sent over the token budget";
  EXPECT_GT(q.waits().at("test tokens"), 0);
}

TEST(Quota, RequestsInFlightCountAgainstWhatTheServerReports) {
  clock::time_point now{std::chrono::hours(1)};
  quota q(
      "test", [&] { return now; }, [&](clock::duration d) { now += d; });
  q.observe(readings({{"tokens", 600, 600, 0.0}}));  // 600 a minute, full
  q.take({1, 400});
  q.take({1, 150});
  // The first answer reports the server saw only that request: the second is still counted.
  q.settle({1, 400});
  q.observe(readings({{"tokens", 600, 200, 40.0}}));
  EXPECT_NEAR(q.available("tokens", now), 50, 1e-9);
  EXPECT_NEAR(secs(q.when({1, 100}) - now), 5, 1e-6);  // 50 more at 10 a second
}

TEST(Quota, AnswersArrivingTogetherAreCountedOnceWhateverTheirOrder) {
  clock::time_point now{std::chrono::hours(1)};
  quota q(
      "test", [&] { return now; }, [&](clock::duration d) { now += d; });
  q.observe(readings({{"tokens", 600, 600, 0.0}}));  // 600 a minute (10 a second), full
  const quota_cost a = q.take({1, 300});
  const quota_cost b = q.take({1, 200});
  // The server counted both (500): the later request's answer says 100 left, the earlier one's
  // (answered last) 300. Both settle before either reading is looked at, as the engine does.
  q.settle(b);
  q.settle(a);
  q.observe(std::vector<quota_observation>{readings({{"tokens", 600, 100, 50.0}}),
                                           readings({{"tokens", 600, 300, 30.0}})});
  EXPECT_NEAR(q.available("tokens", now), 100, 1e-9);  // not 100 less the other request again
  EXPECT_NEAR(secs(q.when({1, 150}) - now), 5, 1e-6);  // 50 more at 10 a second
  // Estimates above what the server counted: the reading, with nothing unanswered, takes back
  // what the estimate held beyond it.
  const quota_cost c = q.take({1, 100});
  now += std::chrono::seconds(1);
  q.settle(c);
  q.observe(std::vector<quota_observation>{readings({{"tokens", 600, 150, 45.0}})});
  EXPECT_NEAR(q.available("tokens", now), 150, 1e-9);
}

// Two requests counted in the order sent, answered in the other order on separate connections and in
// separate passes of the engine: the newer answer (the server's last count) arrives first, while the
// older is in flight; the older arrives alone, with nothing left unanswered. Its reading is older than
// the one before it: the level stays at the lowest reading, refilled, and the next request waits.
TEST(Quota, AnOlderAnswerArrivingLastDoesNotRaiseTheLevelToItsReading) {
  clock::time_point now{std::chrono::hours(1)};
  quota q(
      "test", [&] { return now; }, [&](clock::duration d) { now += d; });
  server_bucket requests{23, 23, now};  // 23 a minute
  q.observe(std::vector<quota_observation>{readings({requests.reading("requests", now)})});
  for (int i = 0; i < 21; ++i) {  // one at a time, each answered at once: 2 left
    const quota_cost c = q.take({1, 0});
    requests.take(1, now);
    q.settle(c);
    q.observe(std::vector<quota_observation>{readings({requests.reading("requests", now)})});
  }
  const quota_cost older = q.take({1, 0});
  requests.take(1, now);
  const quota_reading older_reading = requests.reading("requests", now);  // 1 left
  const quota_cost newer = q.take({1, 0});
  requests.take(1, now);
  const quota_reading newer_reading = requests.reading("requests", now);  // 0 left
  now += std::chrono::milliseconds(2);
  q.settle(newer);
  q.observe(std::vector<quota_observation>{readings({newer_reading})});
  now += std::chrono::milliseconds(2);
  q.settle(older);
  q.observe(std::vector<quota_observation>{readings({older_reading})});
  EXPECT_LT(q.available("requests", now), 0.01);
  const auto at = q.when({1, 0});
  EXPECT_GE(at, now + std::chrono::milliseconds(2500)) << "a request the server has no room for";
  EXPECT_GE(requests.at_time(at), 1 - 1e-6);
  EXPECT_LE(secs(at - now), 60.0 / 23 + 0.01);  // and no longer than the refill of one
}

TEST(Quota, AFixedWindowServerIsFullAtItsReset) {
  clock::time_point now{std::chrono::hours(1)};
  quota q(
      "test", [&] { return now; }, [&](clock::duration d) { now += d; });
  // 3 requests a 1-second window, all spent, the window ends in 0.5 s: limit/60 a second would take
  // 60 s; the reset says 0.5 s, and no sooner than it (a fixed window refills at once at its end).
  q.observe(readings({{"requests", 3, 0, 0.5}}));
  EXPECT_NEAR(secs(q.when({1, 0}) - now), 0.5, 1e-6);
}

TEST(Quota, ConfiguredBucketsPaceAMeteredUnitFromTheFirstRequest) {
  clock::time_point now{std::chrono::hours(1)};
  quota q(
      "Pinecone", [&] { return now; }, [&](clock::duration d) { now += d; });
  q.meter("bytes");
  q.configure("requests", 2, 2);     // 2 a second, a second's worth
  q.configure("bytes", 1000, 1000);  // 1,000 bytes a second
  // Known from the start: no first request alone; both fit at once.
  q.acquire({1, 400});
  EXPECT_LE(q.when({1, 400}), now);
  q.take({1, 400});
  // 200 bytes left and no request: the request bucket binds first (0.5 s), the bytes one at 0.6 s.
  std::string binding;
  EXPECT_NEAR(secs(q.when({1, 800}, &binding) - now), 0.6, 1e-3);
  EXPECT_EQ(binding, "bytes");
  EXPECT_NEAR(secs(q.when({1, 100}, &binding) - now), 0.5, 1e-3);
  EXPECT_EQ(binding, "requests");
  // A cost over the bucket is held to the whole bucket, never refused for ever.
  EXPECT_NEAR(secs(q.when({0, 5000}) - now), 0.8, 1e-3);
}

TEST(Quota, OneRequestAtATimeUntilTheFirstAnswerAndUnknownMeansUnlimited) {
  clock::time_point now{std::chrono::hours(1)};
  quota q(
      "test", [&] { return now; }, [&](clock::duration d) { now += d; });
  EXPECT_LE(q.when({1, 1e9}), now);
  q.take({1, 1e9});
  EXPECT_GT(q.when({1, 1}), now);  // the first answer decides
  q.settle({1, 1e9});
  q.observe(quota_observation{});  // a server that announces nothing
  EXPECT_LE(q.when({1, 1e9}), now);
}

TEST(Quota, RetryAdvicePausesAndTokenCountsCalibrateEstimates) {
  clock::time_point now{std::chrono::hours(1)};
  quota q(
      "test", [&] { return now; }, [&](clock::duration d) { now += d; });
  quota_observation o;
  o.retry_after = 1.234;
  q.observe(o);
  EXPECT_NEAR(secs(q.when({1, 0}) - now), 1.234, 1e-6);
  q.take({1, 400});
  q.settle({1, 400}, 300.0);
  EXPECT_NEAR(q.token_scale(), 1.05 * 0.75, 1e-9);
}

// Requests in flight while the quota learns the server's token count: each answer releases what its
// request took, so once all are answered a full bucket is all there, and a request the refill can
// hold waits for the refill only (not for a share stuck as "outstanding").
TEST(Quota, SettlingReleasesWhatTakeTookWhileTheScaleIsLearnt) {
  clock::time_point now{std::chrono::hours(1)};
  quota q(
      "test", [&] { return now; }, [&](clock::duration d) { now += d; });
  q.observe(readings({{"tokens", 60000, 60000, 0.0}}));  // 60k a minute (1k a second), full
  const quota_cost a = q.take({1, 20000});
  const quota_cost b = q.take({1, 20000});
  q.settle(a, 15000.0);  // the server counts 75 % of the estimate: the scale drops
  q.settle(b, 15000.0);
  EXPECT_LT(q.token_scale(), 1.0);
  // The server reports the two requests spent 30k, refilling since.
  q.observe(readings({{"tokens", 60000, 30000, 30.0}}));
  EXPECT_NEAR(q.available("tokens", now), 30000, 1e-6);
  // 40k estimated tokens, 31.5k at the learnt scale: 1.5 s of refill, not the 30 s until full.
  EXPECT_NEAR(secs(q.when({1, 40000}) - now), 1.5, 1e-3);
}

// A 429 for tokens says when the refused request fits ("try again in 1.5s"); its reset-tokens is when
// the bucket is full (most of a minute). The retry waits for the former.
TEST(QuotaHeaders, ATokens429IsRetriedWhenTheRequestFitsNotWhenTheBucketIsFull) {
  response r;
  r.status = 429;
  r.headers = {{"x-ratelimit-limit-tokens", "300000"},
               {"x-ratelimit-remaining-tokens", "7500"},
               {"x-ratelimit-reset-tokens", "58.5s"},
               {"x-ratelimit-reset-requests", "20ms"}};
  r.body =
      R"({"error":{"message":"Rate limit reached for m on tokens per min (TPM): Limit 300000, Used 292500, )"
      R"(Requested 15000. Please try again in 1.5s. Visit https://platform.openai.com/account/rate-limits",)"
      R"("type":"tokens","code":"rate_limit_exceeded"}})";
  const auto delay = server_retry_delay(r, std::chrono::system_clock::now());
  ASSERT_TRUE(delay);
  EXPECT_NEAR(*delay, 1.5, 1e-9);
  // The quota pauses as long, and no longer, and then the request fits the refill.
  clock::time_point now{std::chrono::hours(1)};
  quota q(
      "test", [&] { return now; }, [&](clock::duration d) { now += d; });
  q.observe(read_openai_quota(r));
  EXPECT_NEAR(secs(q.when({1, 15000}) - now), 1.5, 1e-3);
}

TEST(QuotaHeaders, OpenAIAndAzureAndTryAgainIn) {
  response r;
  r.status = 200;
  r.headers = {{"x-ratelimit-limit-requests", "3000"},     {"x-ratelimit-remaining-requests", "2999"},
               {"x-ratelimit-reset-requests", "20ms"},     {"x-ratelimit-limit-tokens", "300000"},
               {"x-ratelimit-remaining-tokens", "299000"}, {"x-ratelimit-reset-tokens", "200ms"}};
  r.body = R"({"data":[],"usage":{"prompt_tokens": 977,"total_tokens":977}})";
  auto o = read_openai_quota(r);
  ASSERT_EQ(o.buckets.size(), 2u);
  EXPECT_EQ(o.buckets[1].bucket, "tokens");
  EXPECT_EQ(*o.buckets[1].limit, 300000);
  EXPECT_NEAR(*o.buckets[1].reset, 0.2, 1e-9);
  EXPECT_EQ(*o.counted_tokens, 977);
  // Azure: -1 is unknown, retry-after-ms.
  r.status = 429;
  r.headers = {{"x-ratelimit-remaining-tokens", "-1"}, {"retry-after-ms", "1500"}};
  r.body = "{}";
  o = read_openai_quota(r);
  EXPECT_TRUE(o.buckets.empty());
  EXPECT_NEAR(*o.retry_after, 1.5, 1e-9);
  EXPECT_NEAR(*parse_try_again("Rate limit reached ... Please try again in 1.234s. Visit"), 1.234, 1e-9);
  EXPECT_NEAR(*parse_try_again("Please try again in 20ms."), 0.02, 1e-9);
  EXPECT_FALSE(parse_try_again("no advice here"));
}

TEST(QuotaHeaders, JiraFillRateAndReset) {
  response r;
  r.status = 200;
  r.headers = {{"x-ratelimit-limit", "100"},
               {"x-ratelimit-remaining", "40"},
               {"x-ratelimit-fillrate", "10"},
               {"x-ratelimit-interval-seconds", "1"}};
  auto o = read_ratelimit_quota(r);
  ASSERT_EQ(o.buckets.size(), 1u);
  EXPECT_NEAR(o.buckets[0].window, 10, 1e-9);  // 100 tokens at 10 a second
  // Without a fill rate, the window is not known: a success without a reset paces nothing.
  r.headers = {{"x-ratelimit-limit", "8"}, {"x-ratelimit-remaining", "3"}};
  clock::time_point now{std::chrono::hours(1)};
  quota q(
      "Jira", [&] { return now; }, [&](clock::duration d) { now += d; });
  q.observe(read_ratelimit_quota(r));
  EXPECT_LE(q.when({1, 0}), now);
  r.status = 429;
  r.headers = {
      {"retry-after", "2"}, {"x-ratelimit-remaining", "0"}, {"ratelimit-reason", "jira-burst-based"}};
  q.observe(read_ratelimit_quota(r));
  EXPECT_NEAR(secs(q.when({1, 0}) - now), 2, 1e-6);
  EXPECT_NEAR(*parse_reset("30", std::chrono::system_clock::now()), 30, 1e-9);
}

// Jira's burst limits are per second; a 429 says the wait in Retry-After and rounds X-RateLimit-Reset
// up to the minute: one request a second, not one a minute.
TEST(QuotaHeaders, JiraBurstLimitsArePerSecondAndA429WaitsItsRetryAfter) {
  clock::time_point now{std::chrono::hours(1)};
  quota q(
      "Jira", [&] { return now; }, [&](clock::duration d) { now += d; });
  response r;
  r.status = 200;
  r.headers = {{"x-ratelimit-limit", "1"}, {"x-ratelimit-remaining", "0"}};
  q.observe(read_jira_quota(r));
  EXPECT_NEAR(secs(q.when({1, 0}) - now), 1, 1e-6);
  now += std::chrono::seconds(1);
  const std::time_t minute =
      std::chrono::system_clock::to_time_t(std::chrono::system_clock::now()) / 60 * 60 + 60;
  std::tm tm{};
  gmtime_r(&minute, &tm);
  char reset[32];
  std::strftime(reset, sizeof reset, "%Y-%m-%dT%H:%MZ", &tm);
  r.status = 429;
  r.headers = {{"retry-after", "1"},
               {"x-ratelimit-limit", "1"},
               {"x-ratelimit-remaining", "0"},
               {"x-ratelimit-reset", reset},
               {"ratelimit-reason", "jira-burst-based"}};
  q.observe(read_jira_quota(r));
  EXPECT_NEAR(secs(q.when({1, 0}) - now), 1, 1e-6);
}

// The board a wait's INFO line and the progress read each other from: the phase's share and ETA
// (at its rate since its first post), and the quota that holds requests back until its wait ends.
TEST(ProgressBoard, QuotesThePhaseAndTheQuotaThatBinds) {
  const auto t0 = clock::now();
  const int owner = 0;
  progress p;
  p.phase = "ingest";
  p.unit = "pages";
  p.total = 100;
  p.done = 10;
  progress_board::post(p, t0, &owner);
  p.done = 30;
  progress_board::post(p, t0 + std::chrono::seconds(10), &owner);
  const auto e = progress_board::estimate(t0 + std::chrono::seconds(10));
  ASSERT_TRUE(e);
  EXPECT_EQ(e->phase, "ingest");
  EXPECT_NEAR(e->share, 0.3, 1e-9);
  EXPECT_NEAR(e->seconds, 35, 1e-9);  // 70 pages left at 2 a second
  progress_board::forget(&owner);
  EXPECT_FALSE(progress_board::estimate(t0 + std::chrono::seconds(10)));
  progress_board::post_wait("openai tokens", t0 + std::chrono::seconds(2));
  EXPECT_EQ(progress_board::binding(t0 + std::chrono::seconds(1)), "openai tokens");
  EXPECT_EQ(progress_board::binding(t0 + std::chrono::seconds(3)), "");
}

}  // namespace
}  // namespace backfill::http
