// The inside of the native HTTP/2 pool (connection.hpp), private to cpp/src/http/h2:
//   target.cpp       where a URL goes (scheme, host, port, path) and whether a proxy is in the way
//   session.cpp      nghttp2's callbacks: frames out to the socket queue, headers and data in
//   tls.cpp          the TLS context, the handshake and the peer's verification
//   socket_io.cpp    resolving, connecting, and the socket's reads and writes
//   connections.cpp  opening, choosing, failing and closing connections; deadlines
//   pool.cpp         the pool's public side, called from the engine's loop
#pragma once

#include <poll.h>
#include <sys/socket.h>

#include <cstddef>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "http/h2/connection.hpp"
#include "http/handles.hpp"

namespace backfill::http::h2 {

constexpr int streams_per_connection = 4;  // calls a connection carries before another opens
constexpr int max_connections_per_host = 32;
constexpr std::int32_t local_window = 1 << 24;  // what the peer may send before we acknowledge
constexpr std::size_t queue_limit = 4u << 20;   // bytes queued for a socket before nghttp2 is asked for more
constexpr std::size_t read_chunk = 256u << 10;
constexpr int iov_batch = 64;
constexpr auto dns_ttl = std::chrono::seconds(60);

struct target {
  bool tls = false;
  std::string host;  // without brackets
  std::string port;
  std::string authority;  // as the URL has it (host[:port])
  std::string path;       // path and query, "/" when empty
  std::string key;        // scheme://authority, lowercased: connections are shared by key
};

bool parse_target(std::string_view url, target& t);
bool is_ip_literal(const std::string& host);
// Hop-by-hop fields HTTP/2 forbids, and Host (carried as :authority).
bool connection_specific(std::string_view name);
// OpenSSL's last error on this thread, as text (and the error queue cleared).
std::string openssl_error();

struct connection;

// One call on a connection: the pool's side of a transfer.
struct stream {
  transfer* t = nullptr;  // nullptr once cancelled (the stream then only waits for nghttp2 to close it)
  connection* conn = nullptr;
  std::int32_t id = -1;
  const std::string* body = nullptr;
  std::shared_ptr<void> hold;  // the transfer's keep_alive: the body outlives queued writes
  std::size_t reserved = 0;    // body bytes nghttp2 has taken for DATA frames
  std::size_t queued = 0;      // body bytes handed to the socket queue
  long status = 0;
  bool responding = false;
  clock::time_point deadline{}, progress_at{};
};

// Bytes waiting for a socket, in order: copies of nghttp2's frames, or the payload of a DATA
// frame, pointing into a request body.
struct segment {
  std::string own;
  const char* ext = nullptr;
  std::size_t len = 0;  // of ext
  std::size_t off = 0;  // already written
  std::shared_ptr<void> hold;
  const char* data() const { return (ext ? ext : own.data()) + off; }
  std::size_t left() const { return (ext ? len : own.size()) - off; }
};

using address = std::pair<sockaddr_storage, socklen_t>;

struct connection {
  enum class phase { connecting, handshaking, open, dead };
  std::string key;
  target where;  // of the first request: host, port, tls
  phase ph = phase::connecting;
  int fd = -1;
  ssl_ptr ssl;
  short ssl_wants = POLLOUT;  // during the handshake: what it waits for
  session_ptr session;
  std::vector<address> addrs;  // from the DNS cache, tried in order
  std::size_t next_addr = 0;
  std::string connect_error;
  clock::time_point connect_deadline{};
  std::vector<stream*> streams;   // live ones (with a transfer)
  std::vector<stream*> detached;  // reset by us, waiting for nghttp2 to close them
  bool goaway = false;            // takes no new streams
  std::deque<segment> out;
  std::size_t out_bytes = 0;
  bool write_blocked = false;
};

// What nghttp2's callbacks (session.cpp) need from the pool whose loop thread runs them: the loop's
// clock, and where ended transfers go: perform()'s list, or the pool's own `early` list.
struct loop_state {
  clock::time_point now{};
  std::vector<outcome>* done = nullptr;
  static thread_local loop_state* current;  // set by each of the pool's entry points
};

// session.cpp
session_callbacks_ptr make_callbacks();
// Submits the request of s.t on `c` as stream `s`; its id, or a negative nghttp2 error.
std::int32_t submit_request(connection& c, stream& s, const target& where, const std::string& user_agent);
void erase_stream(std::vector<stream*>& list, stream* s);
// Lets a stream's transfer go (cancelled, or timed out); nghttp2 closes the stream later.
void detach(connection& c, stream& s);

struct pool::impl : loop_state {
  client_options opts;
  std::vector<std::unique_ptr<connection>> conns;
  std::map<std::string, std::pair<clock::time_point, std::vector<address>>> dns;
  ssl_ctx_ptr tls_ctx;
  std::string tls_ctx_error;
  session_callbacks_ptr callbacks;
  std::vector<char> inbuf = std::vector<char>(read_chunk);
  std::vector<outcome> early;  // ended in start(): handed out by the next perform()
  clock::time_point next_check{};
  // Proxy settings as libcurl reads them, once.
  std::string http_proxy, https_proxy, no_proxy;

  explicit impl(const client_options& o);
  ~impl();

  // tls.cpp
  SSL_CTX* tls_context();
  bool start_tls(connection& c);
  bool handshake(connection& c);

  // socket_io.cpp
  bool resolve(connection& c);
  bool connect_next(connection& c);
  bool connected(connection& c);
  bool flush(connection& c);
  bool send(connection& c);
  bool receive(connection& c);
  void service(connection& c, short revents);

  // connections.cpp
  void fail_connection(connection& c, CURLcode code, const std::string& why);
  void close_connection(connection& c);
  connection* open_connection(const target& t);
  connection* pick(const target& t);
  void check_deadlines();
  void reset(connection& c, stream& s);
  void sweep();
};

}  // namespace backfill::http::h2
