// One attempt of a request, on either path: its start, and its end: success, a retry after a
// backoff (or the server's advice), a stream refused unprocessed sent again, or the error the
// waiter gets.
#include <cmath>

#include <fmt/format.h>

#include "backfill/core/log.hpp"
#include "backfill/http/retry_after.hpp"
#include "backfill/pack/grpc.hpp"
#include "http/engine.hpp"

namespace backfill::http {

void client::impl::start(const handle& h, host_state& hs) {
  if (native && h->req.grpc && native->accepts(h->req.url))
    start_native(h, hs);
  else
    start_curl(h, hs);
}

// What every attempt starts with, on either path: a fresh response to build (recycled memory
// when there is some), no stall, and one more attempt.
void client::impl::begin_attempt(pending& p) {
  p.building = shells.take();
  p.building.body.clear();
  p.header_count = 0;
  p.stalled = false;
  p.responding = false;
  p.progress_bytes = -1;
  p.progress_at = loop_now;
  ++p.attempts;
}

void client::impl::count_started(host_state& hs) {
  ++hs.in_flight;
  ++in_flight;
  stats.attempts.fetch_add(1, std::memory_order_relaxed);
  if (in_flight > stats.max_in_flight.load(std::memory_order_relaxed))
    stats.max_in_flight.store(in_flight, std::memory_order_relaxed);
}

double client::impl::backoff(int attempt) {
  double cap = std::min(opts.retry.max_delay, opts.retry.base_delay * std::pow(2.0, attempt - 1));
  std::uniform_real_distribution<double> d(0.0, std::max(cap, 0.0));
  return d(rng);
}

// How a transfer ended, from either path: rc as libcurl gives it, the response status, and why when
// rc is not CURLE_OK. `refused`: the server refused the HTTP/2 stream before processing it
// (h2::outcome::refused).
void client::impl::conclude(const handle& h, CURLcode rc, long status, std::string curl_reason,
                            bool refused) {
  auto& hs = hosts[h->host];
  --hs.in_flight;
  --in_flight;
  response r = std::move(h->building);
  r.headers.resize(h->header_count);  // what a recycled response left past them goes
  r.status = rc == CURLE_OK ? status : 0;
  r.attempts = h->attempts;
  scrub_url(h->req.url, r.url);
  scrub_secrets.apply(r.url);
  auto now = clock::now();
  r.seconds = std::chrono::duration<double>(now - h->submitted).count();
  stats.bytes_received.fetch_add(static_cast<std::int64_t>(r.body.size()), std::memory_order_relaxed);
  settle_quota(*h, rc == CURLE_OK ? &r : nullptr);
  if (h->cancelled.load()) {
    shells.give(std::move(r));
    complete(h, nullptr, std::make_exception_ptr(cancelled()));
    return;
  }

  if (rc == CURLE_OK && status >= 300 && status < 400 && follow_redirect(*h, r, status)) {
    shells.give(std::move(r));
    timers.emplace(now, h);
    return;
  }
  decision d = classify(h->req, rc, status, r, curl_reason, opts.classify);
  // The server's advice matters for a retry, a rate limit, or a success that spent the budget.
  std::optional<double> advised;
  if (rc == CURLE_OK && (!d.ok || r.find("x-ratelimit-remaining")))
    advised = server_retry_delay(r, std::chrono::system_clock::now());
  hs.adapt(r, d.ok, d.rate_limited, advised, now);

  if (d.ok) {
    logger()->debug("http: {} {} -> {} in {:.0f} ms (attempt {})", h->req.method, r.url, status,
                    r.seconds * 1000, h->attempts);
    notice_slow(*h, r, now);
    complete(h, &r, nullptr);
    return;
  }
  if (schedule_retry(h, r, d, curl_reason, advised, refused, now)) return;
  stats.failures.fetch_add(1, std::memory_order_relaxed);
  auto error = failure(h->req, r, rc, d, curl_reason, h->attempts, d.retry, scrub_secrets);
  shells.give(std::move(r));
  complete(h, nullptr, std::move(error));
}

// Puts a failed attempt back on the timers when the policy allows another (taking `r`); false when
// it does not (then d.why says so when the elapsed-time budget was the reason).
bool client::impl::schedule_retry(const handle& h, response& r, decision& d, const std::string& curl_reason,
                                  std::optional<double> advised, bool refused, clock::time_point now) {
  const std::string& method = h->req.method;
  double elapsed = std::chrono::duration<double>(now - h->submitted).count();
  // A refused stream reached no application, so it is sent again at once and is not an attempt,
  // as gRPC clients treat it; a server that refuses everything still ends in an error, after
  // max_refusals more tries.
  constexpr int max_refusals = 16;
  if (refused && d.retry && h->refusals < max_refusals && elapsed <= opts.retry.max_elapsed) {
    ++h->refusals;
    --h->attempts;
    logger()->debug("http: {} {} -> {}; sent again", method, r.url, curl_reason);
    stats.retries.fetch_add(1, std::memory_order_relaxed);
    shells.give(std::move(r));
    timers.emplace(now, h);
    return true;
  }
  if (!d.retry || h->attempts >= opts.retry.max_attempts) return false;
  double delay = advised ? *advised : backoff(h->attempts);
  if (elapsed + delay > opts.retry.max_elapsed) {
    d.why += (d.why.empty() ? "" : "; ") +
             fmt::format("the next retry (in {:.0f} s) would pass the {:.0f} s retry budget", delay,
                         opts.retry.max_elapsed);
    return false;
  }
  logger()->debug("http: {} {} -> {}; retry {} of {} in {:.2f} s", method, r.url,
                  d.grpc_code >= 0 ? "gRPC " + grpc::status_name(d.grpc_code)
                  : r.status       ? std::to_string(r.status)
                                   : curl_reason,
                  h->attempts, opts.retry.max_attempts - 1, delay);
  notice_retry(*h, r, d, curl_reason, delay, advised.has_value(), now);
  stats.retries.fetch_add(1, std::memory_order_relaxed);
  shells.give(std::move(r));
  timers.emplace(now + std::chrono::duration_cast<clock::duration>(std::chrono::duration<double>(delay)), h);
  return true;
}

}  // namespace backfill::http
