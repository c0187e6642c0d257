// GitHub's rate limits: classification and pacing (rate.hpp).
#include "sources/github/rate.hpp"

#include <algorithm>
#include <charconv>
#include <ctime>
#include <thread>

#include <fmt/format.h>

#include "backfill/core/errors.hpp"
#include "backfill/core/log.hpp"
#include "backfill/http/retry_after.hpp"

namespace backfill::github_detail {
namespace {

std::int64_t header_int(const http::response& r, std::string_view name) {
  const std::string* v = r.find(name);
  std::int64_t out = -1;
  if (!v || std::from_chars(v->data(), v->data() + v->size(), out).ec != std::errc()) return -1;
  return out;
}

double wall_now() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

bool says_secondary(const std::string& body) {
  return body.find("secondary rate limit") != std::string::npos ||
         body.find("abuse detection") != std::string::npos;
}

}  // namespace

std::string utc_clock(double epoch) {
  std::time_t t = static_cast<std::time_t>(epoch);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%H:%M:%S UTC", &tm);
  return buf;
}

void rate_governor::hold(double seconds, std::string reason) {
  const auto until =
      clock::now() + std::chrono::duration_cast<clock::duration>(std::chrono::duration<double>(seconds));
  if (until > hold_until_) {
    hold_until_ = until;
    hold_reason_ = std::move(reason);
  }
}

http::verdict rate_governor::classify(const http::response& r) {
  std::lock_guard lock(mu_);
  if (const std::int64_t remaining = header_int(r, "x-ratelimit-remaining"); remaining >= 0) {
    budget_.remaining = remaining;
    budget_.limit = header_int(r, "x-ratelimit-limit");
    budget_.used = header_int(r, "x-ratelimit-used");
    const std::int64_t reset = header_int(r, "x-ratelimit-reset");
    budget_.reset = reset > 0 ? static_cast<double>(reset) : 0;
    const std::string* resource = r.find("x-ratelimit-resource");
    budget_.resource = resource ? *resource : "core";
  }
  if (r.status == 401)
    return http::verdict::fatal(
        "GitHub rejected the token (Bad credentials): check source.token (a classic or fine-grained "
        "token that can read these repositories, not expired)");
  if (r.status != 403 && r.status != 429) return http::verdict::pass();
  if (r.has("x-ratelimit-remaining", "0")) {
    const double wait = std::max(1.0, budget_.reset - wall_now() + 1);
    std::string why =
        fmt::format("GitHub primary rate limit spent ({} requests an hour, resource {}); it resets at {}",
                    budget_.limit, budget_.resource, utc_clock(budget_.reset));
    hold(wait, why);
    return http::verdict::retry(std::move(why), true);
  }
  if (const std::string* after = r.find("retry-after")) {
    const double wait = http::parse_retry_after(*after, std::chrono::system_clock::now()).value_or(60.0);
    std::string why = fmt::format("GitHub secondary rate limit: Retry-After {:.0f} s", wait);
    hold(wait, why);
    return http::verdict::retry(std::move(why), true);
  }
  if (says_secondary(r.body)) {
    std::string why = "GitHub secondary rate limit without Retry-After: new requests wait 60 s";
    hold(60, why);
    return http::verdict::retry(std::move(why), true);
  }
  return http::verdict::pass();  // a 403 that is no limit (no permission): the source explains it
}

void rate_governor::pace(run_context& ctx) {
  clock::time_point start = clock::now(), at = start;
  std::string reason;
  bool spreading = false;
  {
    std::lock_guard lock(mu_);
    if (hold_until_ > at) {
      at = hold_until_;
      reason = hold_reason_;
    }
    const double to_reset = budget_.reset - wall_now();
    if (budget_.remaining >= 0 && to_reset > 0) {
      const std::int64_t spare = budget_.remaining - reserve_;
      if (spare <= 0) {
        auto reset_at =
            start + std::chrono::duration_cast<clock::duration>(std::chrono::duration<double>(to_reset + 1));
        if (reset_at > at) {
          at = reset_at;
          reason = fmt::format(
              "GitHub primary rate limit: {} of {} requests left (source.reserve is {}); waiting for "
              "the reset at {}",
              budget_.remaining, budget_.limit, reserve_, utc_clock(budget_.reset));
          hold_until_ = at;
          hold_reason_ = reason;
        }
      } else if (budget_.limit > 0 && budget_.remaining * 2 <= budget_.limit) {
        const auto interval = std::chrono::duration_cast<clock::duration>(
            std::chrono::duration<double>(to_reset / static_cast<double>(spare)));
        const auto slot = std::max(next_slot_, start);
        if (slot > at) {
          at = slot;
          spreading = true;
        }
        next_slot_ = std::max(at, start) + interval;
        if (spreading && start - last_spread_notice_ >= std::chrono::seconds(30)) {
          last_spread_notice_ = start;
          logger()->info(
              "GitHub: {} of {} requests of the primary rate limit left until {}: spreading them, one "
              "request every {:.2f} s",
              budget_.remaining, budget_.limit, utc_clock(budget_.reset),
              std::chrono::duration<double>(interval).count());
        }
      }
      --budget_.remaining;  // this request spends one before its response says so
    }
    if (at > start) {
      ++waits_;
      waited_ += std::chrono::duration<double>(at - start).count();
    }
  }
  const double seconds = std::chrono::duration<double>(at - start).count();
  if (!reason.empty() && seconds >= 1) logger()->info("GitHub: waiting {:.1f} s: {}", seconds, reason);
  while (clock::now() < at) {
    ctx.checkpoint();
    if (ctx.stop_requested()) throw cancelled();
    std::this_thread::sleep_for(std::min<clock::duration>(at - clock::now(), std::chrono::milliseconds(50)));
  }
}

double rate_governor::seconds_for(std::int64_t requests, double rate) const {
  const budget b = last();
  const double fastest = static_cast<double>(requests) / std::max(rate, 0.001);
  if (b.limit <= 0 || b.remaining < 0) return fastest;  // no primary limit announced
  const double to_reset = std::max(0.0, b.reset - wall_now());
  const std::int64_t spare = std::max<std::int64_t>(0, b.remaining - reserve_);
  const std::int64_t fast = std::max<std::int64_t>(0, std::min(spare, b.remaining - b.limit / 2));
  if (requests <= fast) return fastest;
  if (requests <= spare)
    return std::max(fastest,
                    to_reset * static_cast<double>(requests - fast) / static_cast<double>(spare - fast));
  const double per_window = static_cast<double>(std::max<std::int64_t>(1, b.limit - reserve_));
  return std::max(fastest, to_reset + 3600.0 * static_cast<double>(requests - spare) / per_window);
}

budget rate_governor::last() const {
  std::lock_guard lock(mu_);
  return budget_;
}

std::int64_t rate_governor::waits() const {
  std::lock_guard lock(mu_);
  return waits_;
}

double rate_governor::waited_seconds() const {
  std::lock_guard lock(mu_);
  return waited_;
}

}  // namespace backfill::github_detail
