// ISO 8601 in UTC by calendar arithmetic, held to the C library's gmtime_r and timegm.
#include "backfill/core/utc_time.hpp"

#include <gtest/gtest.h>

#include <ctime>
#include <string>

using namespace backfill;

namespace {
std::string libc_format(std::time_t t) {
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}
}  // namespace

TEST(UtcTime, FormatsAndReadsBackEveryDayAsTheCLibraryDoes) {
  // 1600 to 2400, every 13 h 17 min 23 s: every day of four centuries of leap rules, times across it.
  const std::int64_t from = days_from_civil(1600, 1, 1) * 86400, to = days_from_civil(2400, 12, 31) * 86400;
  int checked = 0;
  for (std::int64_t t = from; t <= to; t += 13 * 3600 + 17 * 60 + 23, ++checked) {
    const std::string text = format_utc(t);
    ASSERT_EQ(text, libc_format(static_cast<std::time_t>(t))) << t;
    ASSERT_EQ(parse_utc_prefix(text), t) << text;
  }
  EXPECT_GT(checked, 500'000);
  EXPECT_EQ(format_utc(0), "1970-01-01T00:00:00Z");
  EXPECT_EQ(format_utc(-1), "1969-12-31T23:59:59Z");
}

TEST(UtcTime, ReadsOnlyTheFixedFormAndCountsADayPastTheMonthOnAsTimegmDoes) {
  EXPECT_EQ(parse_utc_prefix("2024-01-15T10:30:00.000+0100"), parse_utc_prefix("2024-01-15T10:30:00"));
  std::tm feb30{};
  feb30.tm_year = 2023 - 1900;
  feb30.tm_mon = 1;
  feb30.tm_mday = 30;
  EXPECT_EQ(parse_utc_prefix("2023-02-30T00:00:00"), timegm(&feb30));
  EXPECT_EQ(parse_utc_prefix("2023-12-31T23:59:60"), days_from_civil(2024, 1, 1) * 86400);
  for (const char* bad :
       {"2024-01-15", "2024-01-15 10:30:00", "2024-13-01T00:00:00", "2024-00-01T00:00:00",
        "2024-01-32T00:00:00", "2024-01-01T24:00:00", "2024-01-01T00:60:00", "2024-01-01T00:00:61",
        "2024-1-015T00:00:00", "20x4-01-01T00:00:00", "+024-01-01T00:00:00", "not a time at all"})
    EXPECT_FALSE(parse_utc_prefix(bad).has_value()) << bad;
}
