// What a person watching a run reads about the waits of a client: each retry with its reason and its
// wait (INFO when the server asked to slow down, WARNING for a server error or a broken connection)
// and each response slower than client_options::slow_seconds (INFO). At most one line per client
// every 10 s: the lines held back in between are counted, and the next line says how many. URLs
// are scrubbed before they get here; reasons are scrubbed here.
#include <fmt/format.h>

#include "backfill/core/log.hpp"
#include "backfill/pack/grpc.hpp"
#include "http/engine.hpp"
#include "http/outcome.hpp"

namespace backfill::http {
namespace {

// The path of a scrubbed URL, without its query (which can be long): what the line names.
std::string_view path_of(std::string_view url) {
  auto scheme = url.find("://");
  auto slash = url.find('/', scheme == std::string_view::npos ? 0 : scheme + 3);
  if (slash == std::string_view::npos) return "/";
  auto path = url.substr(slash);
  return path.substr(0, path.find('?'));
}

}  // namespace

bool client::impl::notice_due(clock::time_point now) { return notices.due(now); }

std::string client::impl::service(const pending& p) const {
  return opts.service.empty() ? p.host : fmt::format("{} ({})", opts.service, p.host);
}

void client::impl::notice_retry(const pending& p, const response& r, const decision& d,
                                const std::string& curl_reason, double delay, bool advised,
                                clock::time_point now) {
  if (!notice_due(now)) return;
  std::string what;
  if (d.grpc_code >= 0) {
    what = "gRPC " + grpc::status_name(d.grpc_code);
  } else if (r.status) {
    std::string reason = status_reason(r.status);
    what = fmt::format("{}{}{}", r.status, reason.empty() ? "" : " ", reason);
  } else {
    what = "connection failed: " + scrub_secrets(curl_reason);
  }
  if (d.rate_limited) what = "rate limited (" + what + ")";
  if (!d.why.empty()) what += " [" + scrub_secrets(d.why) + "]";
  const int skipped = notices.take_skipped();
  const std::string line = fmt::format(
      "{}: {} on {} {}; waiting {:.1f} s{} before retry {} of {}{}", service(p), what, p.req.method,
      path_of(r.url), delay, advised ? " as the server asks (Retry-After or rate-limit headers)" : "",
      p.attempts, opts.retry.max_attempts - 1,
      skipped ? fmt::format(" ({} more retries or slow answers in the last 10 s)", skipped) : "");
  if (d.rate_limited)
    logger()->info("{}", line);
  else
    logger()->warn("{}", line);
}

void client::impl::notice_slow(const pending& p, const response& r, clock::time_point now) {
  if (opts.slow_seconds <= 0 || r.seconds < opts.slow_seconds || !notice_due(now)) return;
  const int skipped = notices.take_skipped();
  logger()->info("{}: {} {} took {:.1f} s to answer (slow){}", service(p), p.req.method, path_of(r.url),
                 r.seconds,
                 skipped ? fmt::format(" ({} more retries or slow answers in the last 10 s)", skipped) : "");
}

}  // namespace backfill::http
