// GitHub's timestamps: ISO 8601 in UTC ("2024-01-31T12:00:00Z"), which sort as text.
#pragma once

#include <ctime>
#include <string>
#include <string_view>

namespace backfill::github_time {

// Seconds since the epoch of "2024-01-31" or "2024-01-31T12:00:00Z" (fractions and offsets other
// than Z are not GitHub's), or -1.
inline std::time_t parse(std::string_view t) {
  std::tm tm{};
  std::string s(t);
  const char* end = nullptr;
  if (s.size() == 10)
    end = strptime(s.c_str(), "%Y-%m-%d", &tm);
  else if (s.size() == 20 && s.back() == 'Z')
    end = strptime(s.c_str(), "%Y-%m-%dT%H:%M:%SZ", &tm);
  if (!end || *end != '\0') return -1;
  return timegm(&tm);
}

inline std::string format(std::time_t t) {
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

// source.since as the API's `since` parameter; "" when empty or unreadable.
inline std::string since_param(std::string_view since) {
  const std::time_t t = parse(since);
  return t < 0 ? std::string() : format(t);
}

// `watermark` minus `minutes`, as a `since`; "" when the watermark is unreadable.
inline std::string minus_minutes(std::string_view watermark, int minutes) {
  const std::time_t t = parse(watermark);
  return t < 0 ? std::string() : format(t - static_cast<std::time_t>(minutes) * 60);
}

}  // namespace backfill::github_time
