// What the end of an attempt means (retry_rules.cpp) and, when it is a failure, the error the
// waiter gets (failure_message.cpp). Both paths, libcurl's and the native HTTP/2 one, end here.
#pragma once

#include <curl/curl.h>

#include <exception>
#include <string>

#include "backfill/http/client.hpp"
#include "backfill/http/scrub.hpp"

namespace backfill::http {

struct decision {
  bool ok = false;
  bool retry = false;
  bool rate_limited = false;  // the host slows down
  int grpc_code = -1;         // of a gRPC call that answered with a status other than OK
  std::string why;            // for the message (in brackets) and the log
};

// `rc` as libcurl gives it (CURLE_OK: `r` holds a response with `status`), `curl_reason` why it is
// not CURLE_OK. The adapter's classifier, when there is one, reads a response first.
// An expect_json answer's body is indexed by the check, and the index left in r.index for its reader.
decision classify(const request& req, CURLcode rc, long status, response& r, const std::string& curl_reason,
                  const classifier& adapter);

// "Too Many Requests" for 429, ... ("" for a status without a common reason phrase).
std::string status_reason(long status);

// The http_error of a request that ended in `d` (not ok) after `attempts`: one line, scrubbed.
std::exception_ptr failure(const request& req, const response& r, CURLcode rc, const decision& d,
                           const std::string& curl_reason, int attempts, bool retryable,
                           const scrubber& scrub);

}  // namespace backfill::http
