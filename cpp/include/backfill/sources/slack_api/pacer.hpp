// Slack's rate limits, paced for rather than run into: one token bucket (burst 1) per Web API method
// at the rate its tier allows (less 2 %, so that the jitter of the network does not bring two
// requests closer than the limit), so requests of a method leave evenly spaced and Slack does not
// need to answer 429. The 2025 limits of apps outside the Slack Marketplace (conversations.history and
// conversations.replies: 1 request a minute, at most 15 messages a page) replace Tier 3 for those two
// methods when the configured tier says so, or, with tier "auto", once an answer shows them (a 429
// on those methods, or a page of exactly 15 messages of more asked while more remain).
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <string_view>

namespace backfill::slack_api {

enum class tier_mode { automatic, marketplace, non_marketplace };

// "auto" | "marketplace" | "non_marketplace"; throws config_error naming source.tier otherwise.
tier_mode parse_tier(std::string_view tier);

// What one method may do: requests a minute and the most messages a page (0 = no cap of its own).
struct method_limit {
  double per_minute = 0;
  int max_page = 0;
};

// Slack's published limit of `method`: Tier 2 (20 a minute) for conversations.list and users.list,
// Tier 3 (50) for conversations.history and .replies, or 1 a minute and 15 messages a page for those
// two under the non-Marketplace limits; Tier 3 for any other method.
method_limit published_limit(std::string_view method, bool non_marketplace);

// Whether the non-Marketplace limits apply to `method` at all (history and replies).
bool paged_history(std::string_view method);

class pacer {
 public:
  using clock = std::chrono::steady_clock;

  // `scale` multiplies every rate (a Slack-compatible server with other limits; tests).
  pacer(tier_mode mode, double scale);

  // Takes the next slot of `method`: the seconds to wait before sending (0 = now).
  double reserve(std::string_view method, clock::time_point now);
  // The `limit` to ask of `method`: `wanted`, capped by the method's page limit.
  int page_limit(std::string_view method, int wanted) const;
  // The method's limit now.
  method_limit limit(std::string_view method) const;
  // Whether history and replies are paced for the non-Marketplace limits now.
  bool non_marketplace() const;
  // Seconds `requests` requests of `method` take at its rate (the first leaves at once).
  double seconds_for(std::string_view method, std::int64_t requests) const;

  // What the answers show (tier "auto" learns from them; the fixed tiers ignore them). Each returns
  // true when it switched history and replies to the non-Marketplace limits.
  bool saw_rate_limit(std::string_view method);
  // A 429 of `method` asked to wait `retry_after` seconds: the engine retries that request then, so
  // the method's next slot moves past it.
  void defer(std::string_view method, double retry_after, clock::time_point now);
  bool saw_page(std::string_view method, int asked, std::size_t got, bool has_more);

 private:
  bool switch_to_non_marketplace();                // with mu_ held
  double interval(std::string_view method) const;  // seconds between requests; with mu_ held

  mutable std::mutex mu_;
  tier_mode mode_;
  double scale_;
  bool non_marketplace_;
  std::map<std::string, clock::time_point, std::less<>> next_;  // method -> its next free slot
};

}  // namespace backfill::slack_api
