// How the Slack Web API's answers read to the HTTP engine (http/classify.hpp): Slack reports some
// rate limits in the body, {"ok": false, "error": "ratelimited"}, even with a 200. The Slack Web API
// source installs this classifier on its client.
#pragma once

#include "backfill/http/classify.hpp"

namespace backfill::slack {

// A 2xx/3xx body saying ok: false, error: ratelimited is a rate limit (retried, the host slowed
// down); everything else passes to the engine's rules (a 429 is a rate limit there already).
http::verdict classify_response(const http::response& r);

}  // namespace backfill::slack
