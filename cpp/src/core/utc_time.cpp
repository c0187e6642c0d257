#include "backfill/core/utc_time.hpp"

namespace backfill {

namespace {

// The value of the `n` decimal digits at `p`, or -1 when one of them is not a digit.
int digits(const char* p, int n) noexcept {
  int v = 0;
  for (int i = 0; i < n; ++i) {
    const unsigned c = static_cast<unsigned char>(p[i]) - '0';
    if (c > 9) return -1;
    v = v * 10 + static_cast<int>(c);
  }
  return v;
}

void put(char* p, int v, int n) noexcept {
  for (int i = n - 1; i >= 0; --i) {
    p[i] = static_cast<char>('0' + v % 10);
    v /= 10;
  }
}

}  // namespace

std::optional<std::int64_t> parse_utc_prefix(std::string_view s) noexcept {
  if (s.size() < 19 || s[4] != '-' || s[7] != '-' || s[10] != 'T' || s[13] != ':' || s[16] != ':')
    return std::nullopt;
  const char* p = s.data();
  const int y = digits(p, 4), mo = digits(p + 5, 2), d = digits(p + 8, 2);
  const int h = digits(p + 11, 2), mi = digits(p + 14, 2), sec = digits(p + 17, 2);
  if (y < 0 || mo < 1 || mo > 12 || d < 1 || d > 31 || h < 0 || h > 23 || mi < 0 || mi > 59 || sec < 0 ||
      sec > 60)
    return std::nullopt;
  return days_from_civil(y, static_cast<unsigned>(mo), static_cast<unsigned>(d)) * 86400 + h * 3600 +
         mi * 60 + sec;
}

std::string format_utc(std::int64_t seconds) {
  std::int64_t days = seconds / 86400;
  std::int64_t rest = seconds % 86400;
  if (rest < 0) {
    rest += 86400;
    --days;
  }
  // civil_from_days (Howard Hinnant's algorithm), the inverse of days_from_civil.
  const std::int64_t z = days + 719468;
  const std::int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const auto doe = static_cast<unsigned>(z - era * 146097);
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const unsigned mp = (5 * doy + 2) / 153;
  const unsigned d = doy - (153 * mp + 2) / 5 + 1;
  const unsigned m = mp < 10 ? mp + 3 : mp - 9;
  const std::int64_t y = static_cast<std::int64_t>(yoe) + era * 400 + (m <= 2);
  std::string out(20, '\0');
  char* p = out.data();
  put(p, static_cast<int>(y), 4);
  p[4] = '-';
  put(p + 5, static_cast<int>(m), 2);
  p[7] = '-';
  put(p + 8, static_cast<int>(d), 2);
  p[10] = 'T';
  put(p + 11, static_cast<int>(rest / 3600), 2);
  p[13] = ':';
  put(p + 14, static_cast<int>(rest / 60 % 60), 2);
  p[16] = ':';
  put(p + 17, static_cast<int>(rest % 60), 2);
  p[19] = 'Z';
  return out;
}

}  // namespace backfill
