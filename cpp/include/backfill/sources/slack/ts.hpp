// Slack's message timestamps ("1699999999.000100": seconds, then microseconds) and their UTC form.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace backfill::slack {

// Microseconds since the epoch; nullopt unless `ts` is digits, optionally a '.' and more digits
// (beyond six fractional digits they are ignored).
std::optional<std::int64_t> parse_ts(std::string_view ts) noexcept;
// Microseconds since the epoch as ISO 8601 UTC to the second: "2023-11-14T22:13:19Z".
std::string iso_utc(std::int64_t micros);

}  // namespace backfill::slack
