// How a client behaves: timeouts, TLS, HTTP/2, the retry policy, per-host limits, the secrets to
// scrub, and the adapter's classification hook.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "backfill/http/classify.hpp"
#include "backfill/http/quota.hpp"

namespace backfill::http {

struct retry_policy {
  int max_attempts = 8;      // including the first
  double base_delay = 0.5;   // seconds; attempt n waits uniform(0, min(max_delay, base * 2^(n-1)))
  double max_delay = 60;     // cap of one computed backoff (a server's Retry-After may be longer)
  double max_elapsed = 900;  // no retry starts after this many seconds from submission
};

struct host_limit {
  double rate = 0;        // requests per second; 0 = unlimited
  double burst = 1;       // token bucket size
  int max_in_flight = 8;  // concurrent requests to the host
};

struct client_options {
  std::string service;       // who the client talks to, in log lines ("Jira", "Pinecone"); "" = the host
  double slow_seconds = 10;  // a response taking longer is logged (INFO), as a retry is
  double connect_timeout = 10;
  double timeout = 120;                // whole transfer
  double low_speed_seconds = 30;       // abort a response that sends nothing for this long (a stalled body);
                                       // waiting for the response to begin is bounded by `timeout`
  bool verify_tls = true;              // off only on purpose; logged as a warning
  std::string ca_bundle;               // "" = default_ca_bundle() (http/ca_bundle.hpp)
  std::string proxy;                   // "" = the standard *_proxy environment variables
  std::string user_agent;              // "" = backfill/<version>
  bool http2 = true;                   // HTTP/2 over TLS when the server offers it
  bool http2_prior_knowledge = false;  // HTTP/2 from the first byte on http:// too (h2c), as gRPC
                                       // needs; https:// still negotiates h2 by ALPN
  bool native_http2 = true;            // gRPC calls (request::grpc) on the engine's own HTTP/2 connections
                                       // (nghttp2: large DATA frames, connections kept); through a proxy,
                                       // and with this off, they go through libcurl
  retry_policy retry;
  host_limit default_limit;
  std::map<std::string, host_limit> host_limits;  // key: "host" or "host:port"
  std::vector<std::string> secrets;               // scrubbed from every message, URL and excerpt
  // Redirects. By default none is followed: a 3xx fails at once, naming the host and where it
  // pointed, so that credentials and bodies reach only the configured host (every API client works
  // so). A client whose API documents redirects may follow up to `max_redirects`; a redirect to
  // another scheme, host or port then carries none of the secret headers (Authorization,
  // Proxy-Authorization, Cookie, Api-Key, and `secret_headers`) and no body: 303, and 301/302 after a
  // POST, continue as a GET without one, and a 307/308 of a request with a body fails instead.
  int max_redirects = 0;
  std::vector<std::string> secret_headers;  // names, case-insensitive
  int max_total_in_flight = 64;
  // The adapter's reading of its API's answers (classify.hpp); empty = the engine's rules alone.
  classifier classify;
  // The API's quota (quota.hpp), shared with whoever sizes requests by it: each request waits in its
  // host's queue until it fits (one request plus its request::quota_tokens), and every answer (429s
  // included) is fed to it through `read_quota` (quota_headers.hpp). Unset: no quota pacing.
  std::shared_ptr<http::quota> shared_quota;
  std::function<quota_observation(const response&)> read_quota;
};

}  // namespace backfill::http
