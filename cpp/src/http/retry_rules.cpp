// Retry classification: which ends of an attempt succeed, which are retried (and which of those
// are rate limits that slow the host down), which fail at once. The adapter's classifier reads a
// response first (classify.hpp); these are the rules of HTTP and gRPC themselves.
#include <algorithm>
#include <charconv>
#include <string>

#include <fmt/format.h>

#include "backfill/core/json_items.hpp"
#include "backfill/http/url.hpp"
#include "backfill/pack/grpc.hpp"
#include "http/outcome.hpp"
#include "http/text.hpp"

namespace backfill::http {
namespace {

bool retryable_curl(CURLcode rc) {
  switch (rc) {
    case CURLE_COULDNT_CONNECT:
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY:
    case CURLE_OPERATION_TIMEDOUT:
    case CURLE_RECV_ERROR:
    case CURLE_SEND_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_PARTIAL_FILE:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM:
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_BAD_CONTENT_ENCODING:  // a body cut short inside gzip
    case CURLE_WEIRD_SERVER_REPLY: return true;
    default: return false;
  }
}

// A call that completed at the HTTP level: its grpc-status decides. The status is in the trailers
// (libcurl hands them to the header callback after the body) or in the headers of a trailers-only
// response: the last grpc-status wins.
void classify_grpc(const response& r, decision& d) {
  const std::string* gs = r.find("grpc-status");
  int code = 2;  // UNKNOWN: no status at all (not a gRPC server, or HTTP/1.1 in between)
  if (gs) std::from_chars(gs->data(), gs->data() + gs->size(), code);
  if (gs && code == 0) {
    d.ok = true;
    return;
  }
  d.grpc_code = code;
  d.retry = grpc::status_retryable(code);
  d.rate_limited = code == 8;  // RESOURCE_EXHAUSTED: how gRPC services (Pinecone's) say "rate limited"
  if (!gs) d.why = "the response has no grpc-status";
}

// A 3xx answer the engine did not follow (redirect.cpp) fails at once, naming the host and where it
// pointed (origins only: a Location's path and query may carry anything).
std::string redirect_reason(const request& req, const response& r) {
  const std::string* location = r.find("location");
  std::string from = url_origin(req.url);
  std::string to = location ? url_origin(*location) : std::string();
  std::string where = !location                  ? "without a Location"
                      : to.empty() || to == from ? "to another path on " + from
                                                 : "to " + to;
  return fmt::format(
      "{} redirects {}; the redirect is not followed, so that credentials and request bodies reach only "
      "the configured host: fix the configured URL (the API's own address, scheme and port)",
      from, where);
}

bool conditional(const request& req) {
  return std::any_of(req.headers.begin(), req.headers.end(),
                     [](const header& h) { return conditional_header(h.name); });
}

}  // namespace

decision classify(const request& req, CURLcode rc, long status, response& r, const std::string& curl_reason,
                  const classifier& adapter) {
  decision d;
  if (rc != CURLE_OK) {
    d.retry = retryable_curl(rc);
    d.why = curl_reason;
    return d;
  }
  if (status == 304 && conditional(req)) {
    d.ok = true;  // not modified since the ETag or date the request sent: the caller has it
    return d;
  }
  if (status >= 300 && status < 400) {
    d.why = redirect_reason(req, r);
    return d;
  }
  if (adapter) {
    verdict v = adapter(r);
    switch (v.what) {
      case verdict::kind::pass: break;
      case verdict::kind::retry:
        d.retry = true;
        d.rate_limited = v.rate_limited;
        d.why = std::move(v.reason);
        return d;
      case verdict::kind::quota:
      case verdict::kind::fatal: d.why = std::move(v.reason); return d;
    }
  }
  if (status >= 200 && status < 300) {
    if (req.grpc) {
      classify_grpc(r, d);
    } else if (req.expect_json && !json::whole_answer(r.body, &r.index)) {
      d.retry = true;
      d.why = "the body is not whole JSON (cut short or malformed)";
    } else {
      d.ok = true;
    }
  } else if (status == 429) {
    d.retry = d.rate_limited = true;
  } else if (status == 403) {
    // GitHub's primary and secondary rate limits; a Retry-After on a 403 means the same anywhere.
    if (r.has("x-ratelimit-remaining", "0") || r.find("retry-after")) d.retry = d.rate_limited = true;
  } else if (status == 408 || status == 500 || status == 502 || status == 503 || status == 504) {
    d.retry = true;
  }
  return d;
}

}  // namespace backfill::http
