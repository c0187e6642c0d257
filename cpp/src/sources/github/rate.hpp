// GitHub's rate limits as the source reads them: the classification hook of its HTTP client (which
// answers mean "rate limited" and how long GitHub asks to wait) and the pacing of the requests the
// source sends, from the primary budget every response announces.
//   - Primary: x-ratelimit-limit/remaining/used/reset(epoch)/resource on every response. While more
//     than half the budget is left, requests go as fast as the client's own rate allows; below half,
//     one request every (seconds to reset) / (remaining - reserve), so a long backfill spreads the
//     budget evenly over the window instead of hitting zero; at `reserve` left, new requests wait
//     for the reset. A 403/429 with x-ratelimit-remaining: 0 is retried when the budget resets.
//   - Secondary: a 403/429 with Retry-After, or whose message says "secondary rate limit", is retried
//     after Retry-After (the engine honours it) and holds every new request of the source that long
//     (60 s when GitHub names no time, as its documentation asks).
//   - 401 Bad credentials is fatal at once.
// Each wait longer than a second is logged at INFO with its reason and length; the engine's retry
// notices (http/notices.cpp) log the rate-limited retries themselves.
#pragma once

#include <chrono>
#include <cstdint>
#include <mutex>
#include <string>

#include "backfill/core/context.hpp"
#include "backfill/http/classify.hpp"

namespace backfill::github_detail {

// What the last response said about the primary budget.
struct budget {
  std::int64_t limit = -1;
  std::int64_t remaining = -1;
  std::int64_t used = -1;
  double reset = 0;  // epoch seconds
  std::string resource;
};

class rate_governor {
 public:
  explicit rate_governor(int reserve) : reserve_(reserve) {}

  // The client's classification hook (called on its loop thread, one response at a time).
  http::verdict classify(const http::response& r);
  // Waits until the source may send its next request; throws cancelled when `ctx` stops.
  void pace(run_context& ctx);

  budget last() const;
  // How long `requests` take from now under this pacing, at most `rate` a second: fast while more
  // than half the budget is left, spread until the reset below that, then full windows (an hour on
  // GitHub) of `limit - reserve` requests each.
  double seconds_for(std::int64_t requests, double rate) const;
  std::int64_t waits() const;
  double waited_seconds() const;

 private:
  using clock = std::chrono::steady_clock;
  void hold(double seconds, std::string reason);

  const int reserve_;
  mutable std::mutex mu_;
  budget budget_;
  clock::time_point hold_until_{};
  std::string hold_reason_;
  clock::time_point next_slot_{};
  clock::time_point last_spread_notice_{};
  std::int64_t waits_ = 0;
  double waited_ = 0;
};

// Epoch seconds as "HH:MM:SS UTC".
std::string utc_clock(double epoch);

}  // namespace backfill::github_detail
