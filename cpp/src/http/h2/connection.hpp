// HTTP/2 connections of the engine's own, for gRPC calls: nghttp2 frames them, the engine's loop
// thread does their I/O in the same poll as libcurl's transfers (curl_multi_poll's extra fds).
//
// Why not libcurl for these too: before 8.x, libcurl writes a request body one 16 kB DATA frame
// per send() call, copies the body on the way, and cannot reuse an h2c connection (curl issue
// 10634), so every upsert opened a connection and both ends paid per frame. Here
//   - a connection carries several calls at once and is kept for the next ones;
//   - DATA frames are as large as the peer allows (its SETTINGS_MAX_FRAME_SIZE and flow-control
//     windows), and their payload is written from the request's own body (NGHTTP2_DATA_FLAG_NO_COPY)
//     with one sendmsg() of many frames;
//   - TLS (OpenSSL, ALPN "h2", the peer's certificate and host name verified as libcurl would,
//     against the same CA bundle) for https://, HTTP/2 from the first byte (prior knowledge) for
//     http://.
// What stays libcurl's: requests through a proxy (pool::accepts() says no), and everything that is
// not a gRPC call. Retries, limits and errors are the engine's, the same for both paths: the pool
// only reports how a transfer ended, as the CURLcode libcurl would have given. Its inside is
// mapped in pool_impl.hpp.
#pragma once

#include <curl/curl.h>

#include <chrono>
#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "backfill/http/options.hpp"
#include "backfill/http/request.hpp"

namespace backfill::http::h2 {

using clock = std::chrono::steady_clock;

struct stream;

// One request on this path. The engine derives from it; the pool calls back on the loop thread.
class transfer {
 public:
  virtual ~transfer() = default;
  // A final response begins (its :status arrived): headers seen so far belong to no response.
  virtual void on_response_begin(long status) = 0;
  // A header or trailer field; HTTP/2 names are lowercase already.
  virtual void on_header(std::string_view name, std::string_view value) = 0;
  virtual void on_data(const char* data, std::size_t n) = 0;

  const request* req = nullptr;      // set by the engine, alive (and unchanged) while the pool holds it
  std::shared_ptr<void> keep_alive;  // held by queued writes that point into req->body
  stream* current = nullptr;         // the pool's, while the transfer runs
};

// How a transfer ended: code CURLE_OK with the response's status, or an error and why.
struct outcome {
  transfer* t = nullptr;
  CURLcode code = CURLE_OK;
  long status = 0;
  std::string reason;
  // The server refused the stream before processing any of it: RST_STREAM(REFUSED_STREAM), or a
  // stream past a GOAWAY's last stream id (RFC 9113, 8.7). Safe to send again as it is.
  bool refused = false;
};

class pool {
 public:
  explicit pool(const client_options& opts);
  ~pool();
  pool(const pool&) = delete;
  pool& operator=(const pool&) = delete;

  // Whether a request to `url` goes this way: http:// or https:// with no proxy in effect for it
  // (client_options::proxy, or the *_proxy environment variables less no_proxy, as libcurl reads them).
  bool accepts(std::string_view url) const;
  // Starts `t` on a connection to its host, opening one when the open ones are full.
  void start(transfer& t, clock::time_point now);
  // Stops a running transfer (RST_STREAM CANCEL); no outcome follows.
  void cancel(transfer& t);
  // The sockets to poll and what for, appended to `fds`.
  void wait_fds(std::vector<curl_waitfd>& fds) const;
  // Does what the sockets are ready for (`polled`: the fds as the poll returned them, or none when
  // the loop did not poll), sends what can be sent, and enforces the deadlines: connect_timeout,
  // timeout, and low_speed_seconds once a response has begun. Ended transfers go to `done`.
  void perform(const std::vector<curl_waitfd>& polled, clock::time_point now, std::vector<outcome>& done);
  // Milliseconds until the next deadline, at most `cap`.
  int timeout_ms(clock::time_point now, int cap) const;
  // Ends every transfer (for shutdown): each comes back in `done` as cancelled (CURLE_ABORTED_BY_CALLBACK).
  void abort_all(std::vector<outcome>& done);
  std::size_t connections() const;

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

// Whether `host` matches a no_proxy list as libcurl reads it: "*", or comma-separated names, each
// matching itself and its subdomains (a leading dot is ignored), or IP addresses.
bool no_proxy_matches(std::string_view no_proxy, std::string_view host);

}  // namespace backfill::http::h2
