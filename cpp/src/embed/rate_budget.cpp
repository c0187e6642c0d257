// Pacing requests by the rate-limit budget the server announced in its x-ratelimit-* headers.
#include "backfill/embed/rate_budget.hpp"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <optional>
#include <string>
#include <string_view>
#include <thread>

#include "backfill/core/log.hpp"
#include "backfill/http/retry_after.hpp"

namespace backfill::openai {

namespace {

std::optional<double> header_number(const http::response& r, std::string_view name) {
  const std::string* v = r.find(name);
  if (!v || v->empty()) return std::nullopt;
  char* end = nullptr;
  double d = std::strtod(v->c_str(), &end);
  if (end == v->c_str() || !std::isfinite(d) || d < 0) return std::nullopt;  // Azure sends -1 for "unknown"
  return d;
}

}  // namespace

void rate_budget::pace(std::size_t tokens, run_context* ctx) {
  std::unique_lock<std::mutex> lock(mutex_);
  if (!known_) return;
  const auto now = clock::now();
  clock::time_point until{};
  if (requests_ < 1 && now < requests_reset_) until = requests_reset_;
  if (tokens_ < static_cast<double>(tokens) && now < tokens_reset_) until = std::max(until, tokens_reset_);
  if (until != clock::time_point{}) {
    until = std::min(until, now + std::chrono::seconds(60));
    waits_.fetch_add(1, std::memory_order_relaxed);
    logger()->debug(
        "openai: the rate-limit budget is spent ({:.0f} requests, {:.0f} tokens left); waiting {:.2f} s "
        "for its reset",
        requests_, tokens_, std::chrono::duration<double>(until - now).count());
    lock.unlock();
    while (clock::now() < until) {
      if (ctx) ctx->checkpoint();
      std::this_thread::sleep_for(
          std::min<clock::duration>(until - clock::now(), std::chrono::milliseconds(50)));
    }
    lock.lock();
  }
  const auto now2 = clock::now();
  if (now2 >= requests_reset_) requests_ = 1e18;  // reset: full again (until told otherwise)
  if (now2 >= tokens_reset_) tokens_ = 1e18;
  requests_ -= 1;
  tokens_ -= static_cast<double>(tokens);
}

void rate_budget::note(const http::response& r) {
  auto rem_requests = header_number(r, "x-ratelimit-remaining-requests");
  auto rem_tokens = header_number(r, "x-ratelimit-remaining-tokens");
  if (!rem_requests && !rem_tokens) return;
  const auto now = clock::now();
  auto reset_at = [&](std::string_view name) {
    const std::string* v = r.find(name);
    auto d = v ? http::parse_go_duration(*v) : std::nullopt;
    return now + std::chrono::duration_cast<clock::duration>(std::chrono::duration<double>(d.value_or(0.0)));
  };
  std::lock_guard<std::mutex> lock(mutex_);
  known_ = true;
  requests_ = rem_requests.value_or(1e18);
  tokens_ = rem_tokens.value_or(1e18);
  requests_reset_ = reset_at("x-ratelimit-reset-requests");
  tokens_reset_ = reset_at("x-ratelimit-reset-tokens");
}

}  // namespace backfill::openai
