// Reading the quota an answer announces (quota.hpp) from the headers and bodies each API uses. An
// adapter picks its reader and feeds what it returns to its quota; a new API (GitHub, Slack) adds a
// reader here or reuses one.
#pragma once

#include <optional>
#include <string_view>

#include "backfill/http/quota.hpp"
#include "backfill/http/request.hpp"

namespace backfill::http {

// OpenAI and OpenAI-compatible servers: x-ratelimit-{limit,remaining,reset}-{requests,tokens} (resets
// as Go durations, "6m0s", "20ms"), per minute. Azure's variants: values of -1 or missing are unknown,
// retry-after-ms next to Retry-After. A 429's "Please try again in 1.234s" (or "in 20ms") in the body.
quota_observation read_openai_quota(const response& r);

// The x-ratelimit-limit / -remaining / -reset family (Jira Cloud, GitHub, Pinecone gateways):
// X-RateLimit-Reset as an ISO 8601 time (Jira), epoch seconds (GitHub) or seconds; Atlassian's
// X-RateLimit-FillRate tokens every X-RateLimit-Interval-Seconds when sent (else the limit per
// minute); X-RateLimit-NearLimit; Retry-After on a 429 or 503. One bucket, "requests".
quota_observation read_ratelimit_quota(const response& r);

// Jira Cloud: the family above, where a limit without a fill rate is a burst limit, per second, and a
// 429's Retry-After (whole seconds) says the wait, not its X-RateLimit-Reset (rounded to the minute).
quota_observation read_jira_quota(const response& r);

// Seconds from "try again in 1.234s", "try again in 20ms", "retry after 3 seconds" in a message.
std::optional<double> parse_try_again(std::string_view text);

}  // namespace backfill::http
