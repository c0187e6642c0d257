// Readers of the quota an answer announces (quota_headers.hpp).
#include "backfill/http/quota_headers.hpp"

#include <chrono>
#include <cmath>
#include <cstdlib>
#include <string>

#include "backfill/http/retry_after.hpp"
#include "http/text.hpp"

namespace backfill::http {

namespace {

// A non-negative number, or nothing (missing, unparsable, or Azure's -1 for "unknown").
std::optional<double> number(const response& r, std::string_view name) {
  const std::string* v = r.find(name);
  if (!v || v->empty()) return std::nullopt;
  char* end = nullptr;
  const double d = std::strtod(v->c_str(), &end);
  if (end == v->c_str() || !std::isfinite(d) || d < 0) return std::nullopt;
  return d;
}

std::optional<double> retry_after(const response& r) {
  if (auto ms = number(r, "retry-after-ms")) return *ms / 1000;
  if (const std::string* v = r.find("retry-after"))
    return parse_retry_after(*v, std::chrono::system_clock::now());
  return std::nullopt;
}

bool is_digit(char c) { return c >= '0' && c <= '9'; }

}  // namespace

std::optional<double> parse_try_again(std::string_view text) {
  for (std::string_view key : {"try again in ", "retry after "}) {
    std::size_t at = text.find(key);
    if (at == std::string_view::npos) continue;
    std::string_view rest = text.substr(at + key.size());
    std::size_t n = 0;
    while (n < rest.size() && (is_digit(rest[n]) || rest[n] == '.')) ++n;
    if (n == 0) continue;
    const double v = std::strtod(std::string(rest.substr(0, n)).c_str(), nullptr);
    std::string_view unit = trim(rest.substr(n, 8));
    if (unit.starts_with("ms")) return v / 1000;
    if (unit.starts_with("s")) return v;
    if (unit.starts_with("m")) return v * 60;
  }
  return std::nullopt;
}

quota_observation read_openai_quota(const response& r) {
  quota_observation o;
  for (const char* bucket : {"requests", "tokens"}) {
    const std::string b(bucket);
    quota_reading q;
    q.bucket = b;
    q.limit = number(r, "x-ratelimit-limit-" + b);
    q.remaining = number(r, "x-ratelimit-remaining-" + b);
    if (const std::string* v = r.find("x-ratelimit-reset-" + b)) q.reset = parse_go_duration(*v);
    if (q.limit || q.remaining) o.buckets.push_back(std::move(q));
  }
  if (r.status == 200) {
    // usage comes last in the answer: look from the end, without parsing the vectors before it.
    constexpr std::string_view key = "\"prompt_tokens\":";
    std::size_t at = r.body.rfind(key);
    if (at != std::string::npos) {
      const char* p = r.body.c_str() + at + key.size();
      while (*p == ' ') ++p;
      char* end = nullptr;
      const double n = std::strtod(p, &end);
      if (end != p && n >= 0) o.counted_tokens = n;
    }
  }
  if (r.status == 429) {
    o.retry_after = retry_after(r);
    if (auto t = parse_try_again(r.body)) o.retry_after = std::max(o.retry_after.value_or(0.0), *t);
  }
  return o;
}

quota_observation read_ratelimit_quota(const response& r) {
  quota_observation o;
  quota_reading q;
  q.bucket = "requests";
  q.limit = number(r, "x-ratelimit-limit");
  q.remaining = number(r, "x-ratelimit-remaining");
  const auto fill = number(r, "x-ratelimit-fillrate");
  const auto interval = number(r, "x-ratelimit-interval-seconds");
  // Per second (Jira's burst limits) or per minute: not said, unless Atlassian's fill rate is sent.
  q.window = fill && interval && *fill > 0 && q.limit ? *q.limit * *interval / *fill : 0;
  if (const std::string* v = r.find("x-ratelimit-reset"))
    q.reset = parse_reset(*v, std::chrono::system_clock::now());
  if (q.limit || q.remaining) o.buckets.push_back(std::move(q));
  if (r.status == 429 || r.status == 503) o.retry_after = retry_after(r);
  return o;
}

quota_observation read_jira_quota(const response& r) {
  quota_observation o = read_ratelimit_quota(r);
  for (quota_reading& q : o.buckets) {
    if (q.window <= 0) q.window = 1;
    // X-RateLimit-Reset is rounded up to the minute: beside Retry-After it would stretch a wait of
    // a second to the minute's end, and a per-second bucket's refill to a minute.
    if (o.retry_after) q.reset.reset();
  }
  return o;
}

}  // namespace backfill::http
