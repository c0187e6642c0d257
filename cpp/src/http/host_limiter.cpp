// Per-host limits (host_limiter.hpp).
#include "http/host_limiter.hpp"

#include <algorithm>
#include <cstdlib>

#include "http/text.hpp"

namespace backfill::http {

namespace {

clock::time_point after(clock::time_point now, double seconds) {
  return now + std::chrono::duration_cast<clock::duration>(std::chrono::duration<double>(seconds));
}

}  // namespace

bool host_state::admit(clock::time_point now, clock::time_point& wake_at) {
  if (in_flight >= std::max(1, static_cast<int>(window))) return false;
  if (now < paused_until) {
    wake_at = std::min(wake_at, paused_until);
    return false;
  }
  if (limit.rate > 0) {
    double rate = limit.rate * rate_factor;
    double dt = std::chrono::duration<double>(now - refilled).count();
    tokens = std::min(limit.burst, tokens + dt * rate);
    refilled = now;
    if (tokens < 1.0) {
      wake_at = std::min(wake_at, after(now, (1.0 - tokens) / rate));
      return false;
    }
    tokens -= 1.0;
  }
  return true;
}

void host_state::adapt(const response& r, bool ok, bool rate_limited, std::optional<double> advised,
                       clock::time_point now) {
  if (rate_limited) {
    rate_factor = std::max(0.05, rate_factor * 0.5);
    window = std::max(1.0, window / 2);
    if (advised) paused_until = std::max(paused_until, after(now, *advised));
    return;
  }
  if (!ok) return;
  const std::string* remaining = r.find("x-ratelimit-remaining");
  const std::string* lim = r.find("x-ratelimit-limit");
  bool near = r.has("x-ratelimit-nearlimit", "true");
  if (remaining && lim) {
    double rem = std::atof(remaining->c_str()), total = std::atof(lim->c_str());
    if (total > 0 && rem / total < 0.1) near = true;
    if (rem == 0 && advised) paused_until = std::max(paused_until, after(now, *advised));
  }
  if (near) {
    rate_factor = std::max(0.05, rate_factor * 0.8);
    window = std::max(1.0, window * 0.8);
  } else {
    rate_factor = std::min(1.0, rate_factor + 0.05);
    window = std::min<double>(limit.max_in_flight, window + 0.25);
  }
}

host_limiter::host_limiter(const client_options& opts) : default_(opts.default_limit) {
  for (const auto& [k, v] : opts.host_limits) {  // hosts compare case-insensitively
    std::string key;
    for (char c : k) key.push_back(ascii_lower(c));
    limits_[key] = v;
  }
}

host_state& host_limiter::operator[](const std::string& key) {
  auto it = hosts_.find(key);
  if (it != hosts_.end()) return it->second;
  host_state h;
  auto lim = limits_.find(key);
  if (lim == limits_.end()) lim = limits_.find(key.substr(0, key.rfind(':')));
  h.limit = lim != limits_.end() ? lim->second : default_;
  h.limit.max_in_flight = std::max(1, h.limit.max_in_flight);
  h.limit.burst = std::max(1.0, h.limit.burst);
  h.tokens = h.limit.burst;
  h.refilled = clock::now();
  h.window = h.limit.max_in_flight;
  return hosts_.emplace(key, std::move(h)).first->second;
}

std::string host_key_of(std::string_view url) {
  std::size_t scheme = url.find("://");
  std::size_t start = scheme == std::string_view::npos ? 0 : scheme + 3;
  std::size_t end = start;
  while (end < url.size() && url[end] != '/' && url[end] != '?' && url[end] != '#') ++end;
  std::string_view auth = url.substr(start, end - start);
  std::size_t at = auth.rfind('@');
  if (at != std::string_view::npos) auth.remove_prefix(at + 1);
  std::string key(auth);
  for (char& c : key) c = ascii_lower(c);
  return key;
}

}  // namespace backfill::http
