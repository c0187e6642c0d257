// The per-host limits of a client: a token bucket (rate, burst), a cap on requests in flight that
// adapts (halved on a rate limit, regained step by step on success), and a pause until the time a
// server named. Requests wait in their host's queue until the limits let them start. Owned and
// used by the loop thread only.
#pragma once

#include <chrono>
#include <deque>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

#include "backfill/http/client.hpp"

namespace backfill::http {

using clock = std::chrono::steady_clock;

struct host_state {
  host_limit limit;
  double tokens = 0;
  clock::time_point refilled;
  double rate_factor = 1.0;  // multiplies limit.rate; halves on a rate limit, recovers per success
  double window = 0;         // adaptive cap on requests in flight (AIMD)
  clock::time_point paused_until{};
  int in_flight = 0;
  std::deque<client::handle> queue;

  // Whether one more request may start now (taking its token); if not, lowers `wake_at` to when
  // it may, when that is known.
  bool admit(clock::time_point now, clock::time_point& wake_at);
  // Slows the host down on a rate-limit signal (a pause for the server's `advised` seconds) and lets
  // it recover gradually on success; near-limit headers slow it a little.
  void adapt(const response& r, bool ok, bool rate_limited, std::optional<double> advised,
             clock::time_point now);
};

class host_limiter {
 public:
  explicit host_limiter(const client_options& opts);
  // The state of a host ("host" or "host:port", lowercase), made on first use from its limit.
  host_state& operator[](const std::string& key);
  auto begin() { return hosts_.begin(); }
  auto end() { return hosts_.end(); }

 private:
  std::map<std::string, host_limit> limits_;  // keys lowercased
  host_limit default_;
  std::unordered_map<std::string, host_state> hosts_;
};

// The limiter's key of a URL: its authority without user info, lowercased.
std::string host_key_of(std::string_view url);

}  // namespace backfill::http
