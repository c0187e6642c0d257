// The HTTP engine every source, embedder and sink talks through: libcurl's multi interface driven by
// one loop thread per client, with
//   - many transfers in flight, keep-alive and connection reuse, HTTP/2 where offered, gzip/deflate;
//   - gRPC calls on HTTP/2 connections of its own (nghttp2; see native_http2), in the same loop;
//   - connect, total and low-speed timeouts;
//   - retries of what retrying can fix (connection errors, timeouts, 408, 429, 5xx, the rate-limit
//     signals of GitHub, Slack and OpenAI) with exponential backoff and full jitter, honouring
//     Retry-After (seconds or HTTP date), x-ratelimit-reset (epoch), OpenAI's x-ratelimit-reset-*
//     durations and Jira's X-RateLimit-Reset, within a cap on attempts and on elapsed time;
//   - per-host limits: a token bucket (rate, burst) and a cap on requests in flight; a 429 or a
//     near-limit header slows the host down and it recovers gradually;
//   - typed errors (http_error) whose text never holds a credential: URLs, bodies and messages are
//     scrubbed of the client's secrets and of well-known token shapes.
// Calls are thread-safe: any thread may submit and wait.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "backfill/core/context.hpp"
#include "backfill/core/errors.hpp"

namespace backfill::http {

struct header {
  std::string name;
  std::string value;
};

struct request {
  std::string method = "GET";
  std::string url;
  std::vector<header> headers;
  std::string body;
  // A gRPC call (HTTP/2, application/grpc): it succeeded only when its grpc-status (from the
  // trailers, or a trailers-only response) is 0; other statuses are retried or failed by code.
  bool grpc = false;
};

struct response {
  long status = 0;
  std::vector<header> headers;  // names lowercased, in arrival order (of the final attempt)
  std::string body;             // decoded; capacity leaves simdjson's padding
  int attempts = 0;
  double seconds = 0;  // from submission to completion, retries included
  std::string url;     // scrubbed

  // The last value of a header (case-insensitive name), or nullptr.
  const std::string* find(std::string_view name) const;
  // The server's request id: x-request-id, x-github-request-id, x-pinecone-request-id, x-arequestid, ...
  std::string request_id() const;
};

struct retry_policy {
  int max_attempts = 8;        // including the first
  double base_delay = 0.5;     // seconds; attempt n waits uniform(0, min(max_delay, base * 2^(n-1)))
  double max_delay = 60;       // cap of one computed backoff (a server's Retry-After may be longer)
  double max_elapsed = 900;    // no retry starts after this many seconds from submission
};

struct host_limit {
  double rate = 0;        // requests per second; 0 = unlimited
  double burst = 1;       // token bucket size
  int max_in_flight = 8;  // concurrent requests to the host
};

struct client_options {
  double connect_timeout = 10;
  double timeout = 120;            // whole transfer
  double low_speed_seconds = 30;   // abort a response that sends nothing for this long (a stalled body);
                                   // waiting for the response to begin is bounded by `timeout`
  bool verify_tls = true;          // off only on purpose; logged as a warning
  std::string ca_bundle;           // "" = $SSL_CERT_FILE, $CURL_CA_BUNDLE, $REQUESTS_CA_BUNDLE, system default
  std::string proxy;               // "" = the standard *_proxy environment variables
  std::string user_agent;          // "" = backfill/<version>
  bool http2 = true;               // HTTP/2 over TLS when the server offers it
  bool http2_prior_knowledge = false;  // HTTP/2 from the first byte on http:// too (h2c), as gRPC
                                       // needs; https:// still negotiates h2 by ALPN
  bool native_http2 = true;  // gRPC calls (request::grpc) on the engine's own HTTP/2 connections
                             // (nghttp2: large DATA frames, connections kept); through a proxy,
                             // and with this off, they go through libcurl
  retry_policy retry;
  host_limit default_limit;
  std::map<std::string, host_limit> host_limits;  // key: "host" or "host:port"
  std::vector<std::string> secrets;               // scrubbed from every message, URL and excerpt
  int max_total_in_flight = 64;
};

// http_error (core/errors.hpp) is the error of this engine.
using backfill::http_error;

struct client_stats {
  std::int64_t requests = 0;   // submitted
  std::int64_t attempts = 0;   // transfers started
  std::int64_t retries = 0;
  std::int64_t failures = 0;   // requests that ended in http_error
  std::int64_t bytes_received = 0;
  int max_in_flight = 0;       // largest number of transfers at once
};

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
  // bytes; bodies over 32 MB are freed).
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

// --- pieces, exposed for the sources and for tests ------------------------------------------

// Seconds to wait from a Retry-After value (delta seconds or an HTTP date), if it parses.
std::optional<double> parse_retry_after(std::string_view value, std::chrono::system_clock::time_point now);
// Go-style durations as OpenAI sends them: "1s", "6m0s", "120ms", "1h2m3.5s".
std::optional<double> parse_go_duration(std::string_view value);
// The server's advice on how long to wait before retrying, from the headers of a response.
std::optional<double> server_retry_delay(const response& r, std::chrono::system_clock::time_point now);
// The URL of rel="next" in a Link header.
std::optional<std::string> link_next(std::string_view link_header);
// Percent-encodes everything but the unreserved characters (RFC 3986).
std::string url_encode(std::string_view s);
// `url` with query parameter `name` set to `value` (percent-encoded), replacing any earlier value.
std::string with_query(std::string_view url, std::string_view name, std::string_view value);
// Removes user info from a URL and masks the values of credential-like query parameters.
std::string scrub_url(std::string_view url);
void scrub_url(std::string_view url, std::string& out);  // into `out`, reusing its capacity
// Masks `secrets` (each at least 4 bytes) and well-known token shapes (Bearer/Basic credentials,
// xox?- Slack tokens, ghp_/gho_/ghs_/github_pat_ GitHub tokens, sk- OpenAI keys) in `text`.
std::string scrub_text(std::string_view text, const std::vector<std::string>& secrets);
// scrub_text with the secrets' spellings (as given, percent-encoded in upper and lower case)
// prepared once, for a client that scrubs many texts with the same secrets.
class scrubber {
 public:
  explicit scrubber(const std::vector<std::string>& secrets);
  std::string operator()(std::string_view text) const;
  void apply(std::string& text) const;  // in place

 private:
  std::vector<std::string> patterns_;
};
// At most `max_bytes` of `body`, cut on a code point, invalid bytes replaced: safe in a message.
std::string excerpt(std::string_view body, std::size_t max_bytes = 500);

// --- pagination ---------------------------------------------------------------------------------

// Fails loudly when a paginator repeats itself: a cursor used before, a page body seen before, or
// item ids that an earlier page of the same partition already had. The error carries the evidence.
class pagination_guard {
 public:
  explicit pagination_guard(std::string what);
  // `cursor`: what fetched this page ("" for the first). Throws pagination_error.
  void check(std::string_view cursor, std::string_view body, const std::vector<std::string>& ids);
  std::int64_t pages() const noexcept { return pages_; }

 private:
  std::string what_;
  std::int64_t pages_ = 0;
  std::map<std::string, std::int64_t, std::less<>> cursors_;
  std::map<std::pair<std::uint64_t, std::uint64_t>, std::int64_t> bodies_;
  // Every item id of the partition so far, as a 64-bit hash with the page that first had it, in one
  // open-addressing table of 12-byte slots at a load of 0.35-0.7: 17-34 bytes an id (250,000 ids:
  // 6.6 MB, against 10.7 MB for a node-based map). A false alarm needs a hash collision (about 1 in
  // 10^7 at a million ids).
  class id_pages {
   public:
    // The page that first had `hash`; records `page` for it when it is new.
    std::int64_t first_page(std::uint64_t hash, std::int64_t page);
    std::size_t size() const noexcept { return used_; }

   private:
    void grow();
    std::vector<std::uint64_t> keys_;  // 0 = empty slot (a hash of 0 is stored as 1)
    std::vector<std::uint32_t> pages_;
    std::size_t used_ = 0;
  };
  id_pages ids_;
};

struct page_spec {
  enum class kind { token, link, offset };
  kind paging = kind::token;
  // token: the query parameter that carries the token, the JSON pointer of the next token in the
  // body, and optionally of an "is last" boolean (Jira's /isLast). An empty or missing token ends.
  std::string token_param = "cursor";
  std::string next_token = "/response_metadata/next_cursor";
  std::string is_last;
  // offset: the parameters of the start and the page size, and the JSON pointer of the total.
  std::string offset_param = "startAt";
  std::string limit_param = "maxResults";
  std::int64_t page_size = 100;
  std::string total;
  // All kinds: the JSON pointer of the items array ("" = the body is the array) and the field of
  // each item that holds its id (for the guard; "" = no id check).
  std::string items;
  std::string id_field = "id";
};

struct page {
  const response& resp;
  std::int64_t items = 0;
  std::vector<std::string> ids;
  std::string cursor;       // what fetched this page
  std::string next_cursor;  // resume here; "" = this was the last page
};

// Fetches pages starting at `cursor` ("" = the first page), calling `on_page` for each in order;
// every page passes `guard` before on_page sees it. The next page's request is already in flight
// while on_page runs (and is cancelled if on_page throws). Cursors are opaque strings: a token, a next URL
// (link paging) or an offset.
void paginate(client& c, const request& first, const page_spec& spec, std::string_view cursor,
              pagination_guard& guard, const std::function<void(const page&)>& on_page, run_context* ctx = nullptr);

}  // namespace backfill::http
