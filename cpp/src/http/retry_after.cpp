// The server's advice on when to retry: Retry-After (seconds or an HTTP date), GitHub's and Jira's
// x-ratelimit-reset (epoch seconds, ISO 8601), OpenAI's x-ratelimit-reset-* (Go durations).
#include "backfill/http/retry_after.hpp"

#include <curl/curl.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <ctime>
#include <string>

#include "backfill/http/quota_headers.hpp"
#include "http/text.hpp"

namespace backfill::http {
namespace {

std::optional<double> parse_number(std::string_view s) {
  s = trim(s);
  if (s.empty()) return std::nullopt;
  std::string tmp(s);
  char* end = nullptr;
  double v = std::strtod(tmp.c_str(), &end);
  if (end != tmp.c_str() + tmp.size() || !std::isfinite(v)) return std::nullopt;
  return v;
}

// ISO 8601 as Jira sends X-RateLimit-Reset: "2026-11-28T16:05Z", with optional seconds.
std::optional<std::time_t> parse_iso_utc(std::string_view s) {
  std::tm tm{};
  std::string tmp(trim(s));
  const char* formats[] = {"%Y-%m-%dT%H:%M:%SZ", "%Y-%m-%dT%H:%MZ"};
  for (const char* f : formats) {
    tm = {};
    const char* end = strptime(tmp.c_str(), f, &tm);
    if (end && *end == '\0') return timegm(&tm);
  }
  return std::nullopt;
}

double since_epoch(std::chrono::system_clock::time_point t) {
  return std::chrono::duration<double>(t.time_since_epoch()).count();
}

}  // namespace

std::optional<double> parse_retry_after(std::string_view value, std::chrono::system_clock::time_point now) {
  value = trim(value);
  if (value.empty()) return std::nullopt;
  if (std::all_of(value.begin(), value.end(),
                  [](char c) { return std::isdigit(static_cast<unsigned char>(c)) || c == '.'; }))
    return parse_number(value);
  std::string tmp(value);
  std::time_t when = curl_getdate(tmp.c_str(), nullptr);
  if (when < 0) return std::nullopt;
  return std::max(0.0, static_cast<double>(when) - since_epoch(now));
}

std::optional<double> parse_go_duration(std::string_view s) {
  s = trim(s);
  if (s.empty()) return std::nullopt;
  double total = 0;
  std::size_t i = 0;
  bool any = false;
  while (i < s.size()) {
    std::size_t start = i;
    while (i < s.size() && (std::isdigit(static_cast<unsigned char>(s[i])) || s[i] == '.')) ++i;
    if (start == i) return std::nullopt;
    auto number = parse_number(s.substr(start, i - start));
    if (!number) return std::nullopt;
    std::size_t ustart = i;
    while (i < s.size() && std::isalpha(static_cast<unsigned char>(s[i]))) ++i;
    std::string_view unit = s.substr(ustart, i - ustart);
    double scale = 0;
    if (unit == "h")
      scale = 3600;
    else if (unit == "m")
      scale = 60;
    else if (unit == "s")
      scale = 1;
    else if (unit == "ms")
      scale = 1e-3;
    else if (unit == "us" || unit == "µs")
      scale = 1e-6;
    else if (unit == "ns")
      scale = 1e-9;
    else
      return std::nullopt;
    total += *number * scale;
    any = true;
  }
  if (!any) return std::nullopt;
  return total;
}

std::optional<double> parse_reset(std::string_view value, std::chrono::system_clock::time_point now) {
  if (auto n = parse_number(value)) {
    constexpr double epoch_2001 = 1e9;  // below: a number of seconds, not a time
    return *n < epoch_2001 ? std::max(0.0, *n) : std::max(0.0, *n - since_epoch(now));
  }
  if (auto t = parse_iso_utc(value)) return std::max(0.0, static_cast<double>(*t) - since_epoch(now));
  return std::nullopt;
}

std::optional<double> server_retry_delay(const response& r, std::chrono::system_clock::time_point now) {
  if (const auto* v = r.find("retry-after"))
    if (auto d = parse_retry_after(*v, now)) return d;
  // GitHub (epoch seconds) and Jira (ISO 8601) announce when an exhausted budget refills.
  const auto* remaining = r.find("x-ratelimit-remaining");
  if (remaining && parse_number(*remaining) == 0.0) {
    if (const auto* reset = r.find("x-ratelimit-reset"))
      if (auto d = parse_reset(*reset, now)) return d;
  }
  // OpenAI's 429 says in its message when the refused request fits ("try again in 1.234s"); the
  // x-ratelimit-reset-* durations are when the buckets are full again (up to a minute), for an
  // answer that does not say.
  if (r.status == 429)
    if (auto d = parse_try_again(r.body)) return d;
  // OpenAI: durations until the request and token budgets reset; wait for the later one.
  std::optional<double> best;
  for (const char* n : {"x-ratelimit-reset-requests", "x-ratelimit-reset-tokens"}) {
    if (const auto* v = r.find(n)) {
      if (auto d = parse_go_duration(*v)) best = std::max(best.value_or(0.0), *d);
    }
  }
  if (best && (r.status == 429)) return best;
  return std::nullopt;
}

}  // namespace backfill::http
