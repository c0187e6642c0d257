// The HTTP engine every source, embedder and sink talks through: libcurl's multi interface driven by
// one loop thread per client, with
//   - many transfers in flight, keep-alive and connection reuse, HTTP/2 where offered, gzip/deflate;
//   - gRPC calls on HTTP/2 connections of its own (nghttp2; see native_http2), in the same loop;
//   - connect, total and low-speed timeouts;
//   - retries of what retrying can fix (connection errors, timeouts, 408, 429, 5xx, GitHub's
//     rate-limited 403, and what the adapter's classifier says: classify.hpp) with exponential
//     backoff and full jitter, honouring Retry-After (seconds or HTTP date), x-ratelimit-reset (epoch),
//     OpenAI's x-ratelimit-reset-* durations and Jira's X-RateLimit-Reset, within a cap on attempts and on
//     elapsed time;
//   - per-host limits: a token bucket (rate, burst) and a cap on requests in flight; a 429 or a
//     near-limit header slows the host down and it recovers gradually;
//   - typed errors (http_error) whose text never holds a credential: URLs, bodies and messages are
//     scrubbed of the client's secrets and of well-known token shapes.
// Calls are thread-safe: any thread may submit and wait.
//
// The pieces around it: request.hpp (request, response), options.hpp (client_options),
// classify.hpp (the adapter's hook), retry_after.hpp, url.hpp, scrub.hpp, paginate.hpp.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "backfill/core/context.hpp"
#include "backfill/core/errors.hpp"
#include "backfill/core/fields.hpp"
#include "backfill/http/options.hpp"
#include "backfill/http/request.hpp"

namespace backfill::http {

// http_error (core/errors.hpp) is the error of this engine.
using backfill::http_error;

struct client_stats {
  std::int64_t requests = 0;  // submitted
  std::int64_t attempts = 0;  // transfers started
  std::int64_t retries = 0;
  std::int64_t failures = 0;  // requests that ended in http_error
  std::int64_t bytes_received = 0;
  int max_in_flight = 0;  // largest number of transfers at once
};
BACKFILL_FIELDS(client_stats, &s::requests, &s::attempts, &s::retries, &s::failures, &s::bytes_received,
                &s::max_in_flight)

class client {
 public:
  explicit client(client_options options = {});
  ~client();  // pending requests fail with cancelled
  client(const client&) = delete;
  client& operator=(const client&) = delete;

  class pending;
  using handle = std::shared_ptr<pending>;

  handle submit(request r);
  // Waits for a submitted request; checks `ctx` (when given) while waiting, and abandons the
  // request when it asks to stop. Throws http_error, or cancelled.
  response wait(const handle& h, run_context* ctx = nullptr);
  response execute(request r, run_context* ctx = nullptr) { return wait(submit(std::move(r)), ctx); }
  // Blocks until a request is finished, without taking its result (wait() takes it, once).
  void await(const handle& h, run_context* ctx = nullptr);
  // Abandons a request: its transfer is stopped and wait() throws cancelled.
  void cancel(const handle& h);

  // Hands a response back once the caller is done with it: its memory (the body's capacity, the
  // header strings, the URL) is reused for later responses instead of fresh allocations. Optional:
  // a response that is simply dropped is freed as usual. The client keeps a few (bounded count and
  // bytes; page-sized bodies within the run's allowance of idle buffers, core/kept_buffers.hpp).
  void recycle(response&& r);
  // The body of a finished request, given back for reuse (its capacity kept), once the engine holds
  // no part of it: "" while a write may still point into it, or before the request ended.
  std::string take_body(const handle& h);

  client_stats stats() const;
  const client_options& options() const noexcept;
  // Scrubs this client's secrets and well-known token shapes from `text`.
  std::string scrub(std::string_view text) const;

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

// Frees the page-sized bodies (and their indexes) that every client keeps idle for its next
// answers, giving their share of the allowance of idle buffers to the stages still running: for a
// stage whose requests are over (the fetch, once its last page is journaled).
void release_idle_pages() noexcept;

}  // namespace backfill::http
