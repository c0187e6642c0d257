// The rate-limit budget an OpenAI-style server announces with every answer
// (x-ratelimit-remaining-{requests,tokens} and x-ratelimit-reset-{requests,tokens}, the resets as Go
// durations such as "6m0s"), less what was sent since. pace() holds a request back while the budget
// is spent and its reset lies ahead; a server that sends no such headers is never waited for.
// Safe to use from several threads at once.
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <mutex>

#include "backfill/core/context.hpp"
#include "backfill/http/client.hpp"

namespace backfill::openai {

class rate_budget {
 public:
  // Waits, before a request of `tokens` goes out, while the budget is spent and its reset lies ahead
  // (at most a minute: then the server decides, and a 429 is retried). Checks `ctx` while waiting.
  void pace(std::size_t tokens, run_context* ctx);
  // Takes the budget an answer announces, if it announces one.
  void note(const http::response& r);
  // Times pace() waited.
  std::int64_t waits() const noexcept { return waits_.load(std::memory_order_relaxed); }

 private:
  using clock = std::chrono::steady_clock;
  std::mutex mutex_;
  bool known_ = false;
  double requests_ = 0;
  double tokens_ = 0;
  clock::time_point requests_reset_{};
  clock::time_point tokens_reset_{};
  std::atomic<std::int64_t> waits_{0};
};

}  // namespace backfill::openai
