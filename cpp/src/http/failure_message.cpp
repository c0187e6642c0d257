// The error of a request that failed for good: one line naming the method, the scrubbed URL, the
// status (or gRPC status, or libcurl's reason), the request id, the attempts and an excerpt of the
// body, with the reason of the classification in brackets when the excerpt does not say it already.
#include <string>

#include <fmt/format.h>

#include "backfill/core/log.hpp"
#include "backfill/pack/grpc.hpp"
#include "http/outcome.hpp"

namespace backfill::http {

std::string status_reason(long status) {
  switch (status) {
    case 301: return "Moved Permanently";
    case 302: return "Found";
    case 303: return "See Other";
    case 307: return "Temporary Redirect";
    case 308: return "Permanent Redirect";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 408: return "Request Timeout";
    case 409: return "Conflict";
    case 410: return "Gone";
    case 413: return "Payload Too Large";
    case 422: return "Unprocessable Entity";
    case 429: return "Too Many Requests";
    case 500: return "Internal Server Error";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    default: return "";
  }
}

namespace {

// Whitespace runs folded into one space, so that the message stays one line.
std::string one_line(const std::string& text) {
  std::string out;
  for (char ch : text) {
    bool space = ch == ' ' || ch == '\n' || ch == '\r' || ch == '\t';
    if (space && (out.empty() || out.back() == ' ')) continue;
    out.push_back(space ? ' ' : ch);
  }
  while (!out.empty() && out.back() == ' ') out.pop_back();
  return out;
}

}  // namespace

std::exception_ptr failure(const request& req, const response& r, CURLcode rc, const decision& d,
                           const std::string& curl_reason, int attempts, bool retryable,
                           const scrubber& scrub) {
  const std::string& method = req.method;
  std::string body = excerpt(scrub(r.body));
  std::string rid = r.request_id();
  std::string message;
  std::string tries = fmt::format("{} attempt{}", attempts, attempts == 1 ? "" : "s");
  if (rc != CURLE_OK) {
    message = fmt::format("{} {} failed: {} ({})", method, r.url, scrub(curl_reason), tries);
  } else if (d.grpc_code >= 0) {
    const std::string* gm = r.find("grpc-message");
    std::string text = gm ? excerpt(scrub(grpc::percent_decode(*gm))) : std::string();
    for (char& ch : text)
      if (ch == '\n' || ch == '\r' || ch == '\t') ch = ' ';
    message = fmt::format("{} {} -> gRPC {} ({}) ({}{}){}{}", method, r.url, grpc::status_name(d.grpc_code),
                          d.grpc_code, rid.empty() ? "" : "request id " + rid + "; ", tries,
                          text.empty() ? "" : ": ", text);
    if (!d.why.empty()) message += " [" + scrub(d.why) + "]";
    body = text;
  } else {
    std::string reason = status_reason(r.status);
    std::string shown = one_line(body);
    message =
        fmt::format("{} {} -> {}{}{} ({}{}){}{}", method, r.url, r.status, reason.empty() ? "" : " ", reason,
                    rid.empty() ? "" : "request id " + rid + "; ", tries, shown.empty() ? "" : ": ", shown);
    if (!d.why.empty() && shown.find(d.why) == std::string::npos) message += " [" + scrub(d.why) + "]";
  }
  logger()->debug("http: {}", message);
  return std::make_exception_ptr(
      http_error(message, r.status, method, r.url, rid, body, attempts, retryable, d.grpc_code));
}

}  // namespace backfill::http
