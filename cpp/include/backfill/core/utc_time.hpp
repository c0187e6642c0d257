// ISO 8601 times in UTC, by calendar arithmetic: no locale, no time zone database, no C library
// formatting. strptime, timegm, gmtime_r and strftime cost thousands of instructions a call, and a
// Jira page's normalize converts two times an issue and two a comment, the ledger one a document.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace backfill {

// Days since 1970-01-01 of a proleptic Gregorian date; a day past the month's end counts on into the
// next month (as timegm does).
constexpr std::int64_t days_from_civil(std::int64_t y, unsigned m, unsigned d) noexcept {
  y -= m <= 2;
  const std::int64_t era = (y >= 0 ? y : y - 399) / 400;
  const auto yoe = static_cast<unsigned>(y - era * 400);                 // [0, 399]
  const unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;  // [0, 365]
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;            // [0, 146096]
  return era * 146097 + static_cast<std::int64_t>(doe) - 719468;
}

// Seconds since the epoch of the "YYYY-MM-DDTHH:MM:SS" that `s` starts with (what follows is the
// caller's: a fraction, an offset, a Z), or nullopt when it does not start with one: every field
// its digits, month 1-12, day 1-31, hour 0-23, minute 0-59, second 0-60.
std::optional<std::int64_t> parse_utc_prefix(std::string_view s) noexcept;

// "YYYY-MM-DDTHH:MM:SSZ" of seconds since the epoch (years 0 to 9999).
std::string format_utc(std::int64_t seconds);

}  // namespace backfill
