// How long a server asks us to wait before retrying, from the headers each API uses.
#pragma once

#include <chrono>
#include <optional>
#include <string_view>

#include "backfill/http/request.hpp"

namespace backfill::http {

// Seconds to wait from a Retry-After value (delta seconds or an HTTP date), if it parses.
std::optional<double> parse_retry_after(std::string_view value, std::chrono::system_clock::time_point now);
// Go-style durations as OpenAI sends them: "1s", "6m0s", "120ms", "1h2m3.5s".
std::optional<double> parse_go_duration(std::string_view value);
// Seconds until an x-ratelimit-reset value: epoch seconds (GitHub), an ISO 8601 UTC time (Jira), or
// (a small number) seconds.
std::optional<double> parse_reset(std::string_view value, std::chrono::system_clock::time_point now);
// The server's advice on how long to wait before retrying, from the headers of a response (and, on a
// 429, an OpenAI message's "try again in Xs", which wins over the time until the buckets are full).
std::optional<double> server_retry_delay(const response& r, std::chrono::system_clock::time_point now);

}  // namespace backfill::http
