#include "backfill/sources/slack/ts.hpp"

#include <cstdio>

namespace backfill::slack {
namespace {

// Days since 1970-01-01 -> civil date (H. Hinnant's algorithm).
void civil_from_days(std::int64_t z, std::int64_t& y, unsigned& m, unsigned& d) noexcept {
  z += 719468;
  const std::int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const auto doe = static_cast<unsigned>(z - era * 146097);
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  y = static_cast<std::int64_t>(yoe) + era * 400;
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const unsigned mp = (5 * doy + 2) / 153;
  d = doy - (153 * mp + 2) / 5 + 1;
  m = mp < 10 ? mp + 3 : mp - 9;
  if (m <= 2) ++y;
}

}  // namespace

std::optional<std::int64_t> parse_ts(std::string_view ts) noexcept {
  std::size_t i = 0;
  std::int64_t secs = 0;
  std::size_t int_digits = 0;
  while (i < ts.size() && ts[i] >= '0' && ts[i] <= '9') {
    if (++int_digits > 12) return std::nullopt;
    secs = secs * 10 + (ts[i] - '0');
    ++i;
  }
  if (int_digits == 0) return std::nullopt;
  std::int64_t frac = 0;
  if (i < ts.size()) {
    if (ts[i] != '.') return std::nullopt;
    ++i;
    std::size_t frac_digits = 0;
    for (; i < ts.size(); ++i) {
      if (ts[i] < '0' || ts[i] > '9') return std::nullopt;
      if (frac_digits < 6) {
        frac = frac * 10 + (ts[i] - '0');
        ++frac_digits;
      }
    }
    for (; frac_digits < 6; ++frac_digits) frac *= 10;
  }
  return secs * 1000000 + frac;
}

std::string iso_utc(std::int64_t micros) {
  std::int64_t secs = micros / 1000000;
  if (micros % 1000000 < 0) --secs;
  std::int64_t days = secs / 86400;
  std::int64_t rem = secs % 86400;
  if (rem < 0) {
    rem += 86400;
    --days;
  }
  std::int64_t y = 0;
  unsigned m = 0, d = 0;
  civil_from_days(days, y, m, d);
  char buf[48];
  std::snprintf(buf, sizeof buf, "%04lld-%02u-%02uT%02lld:%02lld:%02lldZ", static_cast<long long>(y), m, d,
                static_cast<long long>(rem / 3600), static_cast<long long>((rem / 60) % 60),
                static_cast<long long>(rem % 60));
  return buf;
}

}  // namespace backfill::slack
