// The per-client classification hook: an adapter tells the engine what its API's answers mean
// when the status alone does not say it (a rate limit reported in a 200 body, an account out of
// quota behind a 429). The engine asks the hook about every response that arrived (any status, on
// either transport path) before applying its own rules; `pass` leaves the response to them.
//
// A 3xx that is not followed (client_options::max_redirects) fails at once, before the hook is
// asked. The engine's own
// rules (no hook, or the hook passes): 2xx succeed (a gRPC call only with grpc-status 0); 408, 429, 500, 502,
// 503, 504 are retried (429 as a rate limit); a 403 with Retry-After or x-ratelimit-remaining: 0 is a rate
// limit; everything else fails at once.
#pragma once

#include <functional>
#include <string>

#include "backfill/http/request.hpp"

namespace backfill::http {

struct verdict {
  enum class kind {
    pass,   // not the adapter's business: the engine's rules decide
    retry,  // retry as for a 5xx (within the retry policy; Retry-After and the like honoured)
    quota,  // the account's allowance is spent and waiting will not refill it: fail at once
    fatal,  // fail at once
  };
  kind what = kind::pass;
  // retry: the server is throttling, so the host slows down as it does for a 429.
  bool rate_limited = false;
  // Why, for the error message (" [reason]" after the body excerpt, unless the excerpt already says
  // it) and the debug log; scrubbed like the rest of the message.
  std::string reason;

  static verdict pass() { return {}; }
  static verdict retry(std::string reason, bool rate_limited = false) {
    return {kind::retry, rate_limited, std::move(reason)};
  }
  static verdict quota(std::string reason) { return {kind::quota, false, std::move(reason)}; }
  static verdict fatal(std::string reason) { return {kind::fatal, false, std::move(reason)}; }
};

// Called from the client's loop thread, one response at a time: it must be quick and must not block.
using classifier = std::function<verdict(const response&)>;

}  // namespace backfill::http
