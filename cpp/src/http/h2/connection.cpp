// HTTP/2 connections for gRPC calls, driven by the engine's loop thread (see connection.hpp).
#include "http/h2/connection.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <nghttp2/nghttp2.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <map>

#include <fmt/format.h>

#include "backfill/core/log.hpp"

namespace backfill::http::h2 {

namespace {

constexpr int streams_per_connection = 4;    // calls a connection carries before another opens
constexpr int max_connections_per_host = 32;
constexpr std::int32_t local_window = 1 << 24;  // what the peer may send before we acknowledge
constexpr std::size_t queue_limit = 4u << 20;   // bytes queued for a socket before nghttp2 is asked for more
constexpr std::size_t read_chunk = 256u << 10;
constexpr int iov_batch = 64;
const auto dns_ttl = std::chrono::seconds(60);

char lower(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i)
    if (lower(a[i]) != lower(b[i])) return false;
  return true;
}

struct target {
  bool tls = false;
  std::string host;       // without brackets
  std::string port;
  std::string authority;  // as the URL has it (host[:port])
  std::string path;       // path and query, "/" when empty
  std::string key;        // scheme://authority, lowercased: connections are shared by key
};

bool parse_target(std::string_view url, target& t) {
  std::size_t sep = url.find("://");
  if (sep == std::string_view::npos) return false;
  std::string scheme;
  for (char c : url.substr(0, sep)) scheme.push_back(lower(c));
  if (scheme != "http" && scheme != "https") return false;
  t.tls = scheme == "https";
  std::string_view rest = url.substr(sep + 3);
  std::size_t end = rest.find_first_of("/?#");
  std::string_view auth = rest.substr(0, end);
  if (auth.find('@') != std::string_view::npos || auth.empty()) return false;  // user info: libcurl's job
  std::string_view path = end == std::string_view::npos ? std::string_view() : rest.substr(end);
  if (std::size_t hash = path.find('#'); hash != std::string_view::npos) path = path.substr(0, hash);
  std::string_view host = auth, port;
  if (auth.front() == '[') {
    std::size_t close = auth.find(']');
    if (close == std::string_view::npos) return false;
    host = auth.substr(1, close - 1);
    if (close + 1 < auth.size()) {
      if (auth[close + 1] != ':') return false;
      port = auth.substr(close + 2);
    }
  } else if (std::size_t colon = auth.rfind(':'); colon != std::string_view::npos) {
    host = auth.substr(0, colon);
    port = auth.substr(colon + 1);
  }
  if (host.empty()) return false;
  t.host.assign(host);
  t.port = port.empty() ? (t.tls ? "443" : "80") : std::string(port);
  t.authority.assign(auth);
  t.path = path.empty() ? "/" : std::string(path);
  if (t.path.front() == '?') t.path.insert(t.path.begin(), '/');
  t.key = scheme + "://";
  for (char c : auth) t.key.push_back(lower(c));
  return true;
}

bool is_ip_literal(const std::string& host) {
  unsigned char buf[sizeof(in6_addr)];
  return inet_pton(AF_INET, host.c_str(), buf) == 1 || inet_pton(AF_INET6, host.c_str(), buf) == 1;
}

std::string openssl_error() {
  unsigned long e = ERR_get_error();
  ERR_clear_error();
  if (!e) return "unknown TLS error";
  char buf[256];
  ERR_error_string_n(e, buf, sizeof buf);
  return buf;
}

// Hop-by-hop fields HTTP/2 forbids, and Host (carried as :authority).
bool connection_specific(std::string_view name) {
  for (std::string_view n : {"connection", "keep-alive", "proxy-connection", "transfer-encoding", "upgrade", "host",
                             "expect", "content-length"})
    if (iequals(name, n)) return true;
  return false;
}

}  // namespace

bool no_proxy_matches(std::string_view list, std::string_view host) {
  std::string h;
  for (char c : host) h.push_back(lower(c));
  if (!h.empty() && h.front() == '[' && h.back() == ']') h = h.substr(1, h.size() - 2);
  std::size_t i = 0;
  while (i <= list.size()) {
    std::size_t comma = list.find(',', i);
    if (comma == std::string_view::npos) comma = list.size();
    std::string_view entry = list.substr(i, comma - i);
    i = comma + 1;
    while (!entry.empty() && (entry.front() == ' ' || entry.front() == '\t')) entry.remove_prefix(1);
    while (!entry.empty() && (entry.back() == ' ' || entry.back() == '\t')) entry.remove_suffix(1);
    if (entry.empty()) continue;
    if (entry == "*") return true;
    if (entry.front() == '.') entry.remove_prefix(1);
    std::string e;
    for (char c : entry) e.push_back(lower(c));
    if (!e.empty() && e.front() == '[' && e.back() == ']') e = e.substr(1, e.size() - 2);
    if (h == e) return true;
    if (h.size() > e.size() && h.compare(h.size() - e.size(), e.size(), e) == 0 && h[h.size() - e.size() - 1] == '.')
      return true;
  }
  return false;
}

struct connection;

// One call on a connection: the pool's side of a transfer.
struct stream {
  transfer* t = nullptr;  // nullptr once cancelled (the stream then only waits for nghttp2 to close it)
  connection* conn = nullptr;
  std::int32_t id = -1;
  const std::string* body = nullptr;
  std::shared_ptr<void> hold;  // the transfer's keep_alive: the body outlives queued writes
  std::size_t reserved = 0;     // body bytes nghttp2 has taken for DATA frames
  std::size_t queued = 0;       // body bytes handed to the socket queue
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

struct connection {
  enum class phase { connecting, handshaking, open, dead };
  std::string key;
  target where;  // of the first request: host, port, tls
  phase ph = phase::connecting;
  int fd = -1;
  SSL* ssl = nullptr;
  short ssl_wants = POLLOUT;  // during the handshake
  nghttp2_session* session = nullptr;
  std::vector<std::pair<sockaddr_storage, socklen_t>> addrs;  // from the DNS cache, tried in order
  std::size_t next_addr = 0;
  std::string connect_error;
  clock::time_point connect_deadline{};
  std::vector<stream*> streams;   // live ones (with a transfer)
  std::vector<stream*> detached;  // reset by us, waiting for nghttp2 to close them
  bool goaway = false;           // takes no new streams
  std::deque<segment> out;
  std::size_t out_bytes = 0;
  bool write_blocked = false;
};

struct pool::impl {
  client_options opts;
  std::vector<std::unique_ptr<connection>> conns;
  std::map<std::string, std::pair<clock::time_point, std::vector<std::pair<sockaddr_storage, socklen_t>>>> dns;
  SSL_CTX* tls_ctx = nullptr;
  std::string tls_ctx_error;
  nghttp2_session_callbacks* callbacks = nullptr;
  std::vector<char> inbuf = std::vector<char>(read_chunk);
  std::vector<outcome>* done = nullptr;  // where ended transfers go: perform()'s, or `early`
  std::vector<outcome> early;            // ended in start(): handed out by the next perform()
  clock::time_point now{};
  clock::time_point next_check{};
  // Proxy settings as libcurl reads them, once.
  std::string http_proxy, https_proxy, no_proxy;

  explicit impl(const client_options& o) : opts(o) {
    auto env = [](std::initializer_list<const char*> names) {
      for (const char* n : names)
        if (const char* v = std::getenv(n); v && *v) return std::string(v);
      return std::string();
    };
    // libcurl reads http_proxy in lowercase only (an HTTP_PROXY set by a CGI server is not a proxy).
    http_proxy = env({"http_proxy", "all_proxy", "ALL_PROXY"});
    https_proxy = env({"https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"});
    no_proxy = env({"no_proxy", "NO_PROXY"});

    nghttp2_session_callbacks_new(&callbacks);
    nghttp2_session_callbacks_set_send_callback(callbacks, &impl::on_send);
    nghttp2_session_callbacks_set_send_data_callback(callbacks, &impl::on_send_data);
    nghttp2_session_callbacks_set_data_source_read_length_callback(callbacks, &impl::on_read_length);
    nghttp2_session_callbacks_set_on_header_callback(callbacks, &impl::on_header);
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(callbacks, &impl::on_data);
    nghttp2_session_callbacks_set_on_stream_close_callback(callbacks, &impl::on_close);
    nghttp2_session_callbacks_set_on_frame_recv_callback(callbacks, &impl::on_frame);
  }

  ~impl() {
    for (auto& c : conns) close_connection(*c);
    if (tls_ctx) SSL_CTX_free(tls_ctx);
    nghttp2_session_callbacks_del(callbacks);
  }

  // -- nghttp2's callbacks (user_data: the connection) ------------------------------------------

  // The pool whose loop thread runs the callbacks (nghttp2's user_data is the connection).
  static thread_local impl* self;

  static ssize_t on_send(nghttp2_session*, const uint8_t* data, std::size_t n, int, void* user) {
    auto* c = static_cast<connection*>(user);
    if (c->out_bytes >= queue_limit) return NGHTTP2_ERR_WOULDBLOCK;
    // Small frames go into the last copied segment while it has room and nothing of it is written.
    if (!c->out.empty() && !c->out.back().ext && c->out.back().off == 0 && c->out.back().own.size() < 16384) {
      c->out.back().own.append(reinterpret_cast<const char*>(data), n);
    } else {
      segment s;
      s.own.assign(reinterpret_cast<const char*>(data), n);
      c->out.push_back(std::move(s));
    }
    c->out_bytes += n;
    return static_cast<ssize_t>(n);
  }

  static int on_send_data(nghttp2_session*, nghttp2_frame* frame, const uint8_t* head, std::size_t length,
                          nghttp2_data_source* source, void* user) {
    auto* c = static_cast<connection*>(user);
    auto* s = static_cast<stream*>(source->ptr);
    if (c->out_bytes >= queue_limit) return NGHTTP2_ERR_WOULDBLOCK;
    if (frame->data.padlen > 0) return NGHTTP2_ERR_CALLBACK_FAILURE;  // no padding is ever asked for
    on_send(nullptr, head, 9, 0, user);
    if (length > 0) {
      segment seg;
      seg.ext = s->body->data() + s->queued;
      seg.len = length;
      seg.hold = s->hold;
      c->out.push_back(std::move(seg));
      c->out_bytes += length;
      s->queued += length;
    }
    return 0;
  }

  static ssize_t on_read(nghttp2_session*, std::int32_t, uint8_t*, std::size_t length, uint32_t* flags,
                         nghttp2_data_source* source, void*) {
    auto* s = static_cast<stream*>(source->ptr);
    std::size_t n = std::min(length, s->body->size() - s->reserved);
    s->reserved += n;
    *flags |= NGHTTP2_DATA_FLAG_NO_COPY;
    if (s->reserved == s->body->size()) *flags |= NGHTTP2_DATA_FLAG_EOF;
    return static_cast<ssize_t>(n);
  }

  // DATA frames as large as the peer takes (its frame size limit and both flow-control windows), up
  // to 1 MB: nghttp2 sizes a frame buffer by this even when the payload is not copied into it.
  static ssize_t on_read_length(nghttp2_session*, uint8_t, std::int32_t, std::int32_t session_window,
                                std::int32_t stream_window, uint32_t max_frame, void*) {
    std::int64_t n = std::min<std::int64_t>({session_window, stream_window, static_cast<std::int64_t>(max_frame),
                                             std::int64_t{1} << 20});
    return static_cast<ssize_t>(std::max<std::int64_t>(n, 1));
  }

  static stream* stream_of(nghttp2_session* session, std::int32_t id) {
    auto* s = static_cast<stream*>(nghttp2_session_get_stream_user_data(session, id));
    return s && s->t ? s : nullptr;
  }

  static int on_header(nghttp2_session* session, const nghttp2_frame* frame, const uint8_t* name, std::size_t namelen,
                       const uint8_t* value, std::size_t valuelen, uint8_t, void*) {
    if (frame->hd.type != NGHTTP2_HEADERS) return 0;
    stream* s = stream_of(session, frame->hd.stream_id);
    if (!s) return 0;
    std::string_view n(reinterpret_cast<const char*>(name), namelen), v(reinterpret_cast<const char*>(value), valuelen);
    s->progress_at = self->now;
    if (n == ":status") {
      long status = 0;
      std::from_chars(v.data(), v.data() + v.size(), status);
      if (status >= 200) {
        s->status = status;
        s->responding = true;
        s->t->on_response_begin(status);
      }
      return 0;
    }
    if (!n.empty() && n.front() == ':') return 0;
    if (s->status >= 200) s->t->on_header(n, v);  // not the fields of a 1xx
    return 0;
  }

  static int on_data(nghttp2_session* session, uint8_t, std::int32_t id, const uint8_t* data, std::size_t n, void*) {
    if (stream* s = stream_of(session, id)) {
      s->progress_at = self->now;
      s->t->on_data(reinterpret_cast<const char*>(data), n);
    }
    return 0;
  }

  static int on_frame(nghttp2_session*, const nghttp2_frame* frame, void* user) {
    if (frame->hd.type == NGHTTP2_GOAWAY) {
      auto* c = static_cast<connection*>(user);
      c->goaway = true;  // streams above last_stream_id are closed by nghttp2 as refused: retried
      logger()->debug("http2: {} sent GOAWAY ({})", c->key, nghttp2_http2_strerror(frame->goaway.error_code));
    }
    return 0;
  }

  static int on_close(nghttp2_session* session, std::int32_t id, uint32_t code, void* user) {
    auto* s = static_cast<stream*>(nghttp2_session_get_stream_user_data(session, id));
    if (!s) return 0;
    auto* c = static_cast<connection*>(user);
    nghttp2_session_set_stream_user_data(session, id, nullptr);
    if (s->t) {
      outcome o;
      o.t = s->t;
      if (code == NGHTTP2_NO_ERROR && s->status >= 200) {
        o.status = s->status;
      } else if (code == NGHTTP2_NO_ERROR) {
        o.code = CURLE_HTTP2_STREAM;
        o.reason = fmt::format("HTTP/2 stream {} on {} closed without a response", id, c->key);
      } else {
        o.code = CURLE_HTTP2_STREAM;
        o.reason = fmt::format("HTTP/2 stream {} on {} was reset: {} (err {})", id, c->key,
                               nghttp2_http2_strerror(code), code);
        o.refused = code == NGHTTP2_REFUSED_STREAM;  // nghttp2's code for streams past a GOAWAY too
      }
      s->t->current = nullptr;
      erase(c->streams, s);
      self->done->push_back(std::move(o));
    } else {
      erase(c->detached, s);
    }
    delete s;
    return 0;
  }

  static void erase(std::vector<stream*>& list, stream* s) {
    auto it = std::find(list.begin(), list.end(), s);
    if (it != list.end()) list.erase(it);
  }

  // Lets a stream's transfer go (cancelled, or timed out); nghttp2 closes the stream later.
  static void detach(connection& c, stream& s) {
    if (s.t) s.t->current = nullptr;
    s.t = nullptr;
    erase(c.streams, &s);
    c.detached.push_back(&s);
  }

  // -- connections ------------------------------------------------------------------------------

  bool resolve(connection& c) {
    std::string key = c.where.host + ":" + c.where.port;
    auto it = dns.find(key);
    if (it == dns.end() || it->second.first < now) {
      addrinfo hints{};
      hints.ai_family = AF_UNSPEC;
      hints.ai_socktype = SOCK_STREAM;
      hints.ai_flags = AI_ADDRCONFIG;
      addrinfo* res = nullptr;
      int rc = getaddrinfo(c.where.host.c_str(), c.where.port.c_str(), &hints, &res);
      if (rc != 0 || !res) {
        c.connect_error = fmt::format("Could not resolve host: {} ({})", c.where.host, gai_strerror(rc));
        return false;
      }
      std::vector<std::pair<sockaddr_storage, socklen_t>> list;
      for (addrinfo* a = res; a; a = a->ai_next) {
        sockaddr_storage ss{};
        std::memcpy(&ss, a->ai_addr, a->ai_addrlen);
        list.emplace_back(ss, a->ai_addrlen);
      }
      freeaddrinfo(res);
      it = dns.insert_or_assign(key, std::make_pair(now + dns_ttl, std::move(list))).first;
    }
    c.addrs = it->second.second;
    return true;
  }

  // Starts a non-blocking connect to the next address; false when none is left.
  bool connect_next(connection& c) {
    while (c.next_addr < c.addrs.size()) {
      const auto& [ss, len] = c.addrs[c.next_addr];
      ++c.next_addr;
      int fd = ::socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
      if (fd < 0) {
        c.connect_error = fmt::format("socket(): {}", std::strerror(errno));
        continue;
      }
      int one = 1;
      setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
      setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof one);
      if (::connect(fd, reinterpret_cast<const sockaddr*>(&ss), len) == 0 || errno == EINPROGRESS) {
        c.fd = fd;
        return true;
      }
      c.connect_error = fmt::format("Failed to connect to {} port {}: {}", c.where.host, c.where.port, std::strerror(errno));
      ::close(fd);
    }
    return false;
  }

  SSL_CTX* tls_context() {
    if (tls_ctx || !tls_ctx_error.empty()) return tls_ctx;
    SSL_CTX* ctx = SSL_CTX_new(TLS_client_method());
    if (!ctx) {
      tls_ctx_error = openssl_error();
      return nullptr;
    }
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    static const unsigned char alpn[] = {2, 'h', '2'};
    SSL_CTX_set_alpn_protos(ctx, alpn, sizeof alpn);
    if (opts.verify_tls) {
      SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, nullptr);
      bool loaded = opts.ca_bundle.empty() ? SSL_CTX_set_default_verify_paths(ctx) == 1
                                           : SSL_CTX_load_verify_locations(ctx, opts.ca_bundle.c_str(), nullptr) == 1;
      if (!loaded) {
        tls_ctx_error = fmt::format("error setting certificate file: {} ({})",
                                    opts.ca_bundle.empty() ? "the system's default CA paths" : opts.ca_bundle,
                                    openssl_error());
        SSL_CTX_free(ctx);
        return nullptr;
      }
    } else {
      SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, nullptr);
    }
    tls_ctx = ctx;
    return ctx;
  }

  // A connect finished (the socket became writable): TLS next, or HTTP/2 at once.
  bool connected(connection& c) {
    int err = 0;
    socklen_t len = sizeof err;
    getsockopt(c.fd, SOL_SOCKET, SO_ERROR, &err, &len);
    if (err != 0) {
      c.connect_error = fmt::format("Failed to connect to {} port {}: {}", c.where.host, c.where.port, std::strerror(err));
      ::close(c.fd);
      c.fd = -1;
      if (connect_next(c)) return true;
      fail_connection(c, CURLE_COULDNT_CONNECT, c.connect_error);
      return false;
    }
    if (!c.where.tls) {
      c.ph = connection::phase::open;
      return true;
    }
    SSL_CTX* ctx = tls_context();
    if (!ctx) {
      fail_connection(c, CURLE_SSL_CACERT_BADFILE, tls_ctx_error);
      return false;
    }
    c.ssl = SSL_new(ctx);
    SSL_set_fd(c.ssl, c.fd);
    if (is_ip_literal(c.where.host)) {
      if (opts.verify_tls) X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(c.ssl), c.where.host.c_str());
    } else {
      SSL_set_tlsext_host_name(c.ssl, c.where.host.c_str());
      if (opts.verify_tls) SSL_set1_host(c.ssl, c.where.host.c_str());
    }
    c.ph = connection::phase::handshaking;
    return handshake(c);
  }

  bool handshake(connection& c) {
    int rc = SSL_connect(c.ssl);
    if (rc == 1) {
      const unsigned char* proto = nullptr;
      unsigned len = 0;
      SSL_get0_alpn_selected(c.ssl, &proto, &len);
      if (len != 2 || std::memcmp(proto, "h2", 2) != 0) {
        fail_connection(c, CURLE_UNSUPPORTED_PROTOCOL,
                        fmt::format("{} did not agree to HTTP/2 in the TLS handshake (ALPN), which gRPC needs", c.key));
        return false;
      }
      c.ph = connection::phase::open;
      return true;
    }
    int e = SSL_get_error(c.ssl, rc);
    if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
      c.ssl_wants = e == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT;
      return true;
    }
    long verify = SSL_get_verify_result(c.ssl);
    if (opts.verify_tls && verify != X509_V_OK) {
      fail_connection(c, CURLE_PEER_FAILED_VERIFICATION,
                      fmt::format("SSL certificate problem: {}", X509_verify_cert_error_string(verify)));
    } else {
      std::string why = e == SSL_ERROR_SYSCALL ? (errno ? std::strerror(errno) : "the connection closed")
                                               : openssl_error();
      fail_connection(c, CURLE_SSL_CONNECT_ERROR, fmt::format("TLS handshake with {} failed: {}", c.key, why));
    }
    return false;
  }

  // Every transfer on the connection ends with `code`; the connection is closed.
  void fail_connection(connection& c, CURLcode code, const std::string& why) {
    for (stream* s : c.streams) {
      outcome o;
      o.t = s->t;
      o.code = code;
      o.reason = why;
      done->push_back(std::move(o));
    }
    close_connection(c);
  }

  // Closes the socket and the session; the streams still on it are freed (nghttp2_session_del
  // calls no callbacks), their transfers let go without an outcome (fail_connection gives them one).
  void close_connection(connection& c) {
    if (c.session) nghttp2_session_del(c.session);
    c.session = nullptr;
    for (stream* s : c.streams) {
      if (s->t) s->t->current = nullptr;
      delete s;
    }
    for (stream* s : c.detached) delete s;
    c.streams.clear();
    c.detached.clear();
    if (c.ssl) SSL_free(c.ssl);
    c.ssl = nullptr;
    if (c.fd >= 0) ::close(c.fd);
    c.fd = -1;
    c.out.clear();
    c.out_bytes = 0;
    c.ph = connection::phase::dead;
  }

  connection* open_connection(const target& t) {
    auto c = std::make_unique<connection>();
    c->key = t.key;
    c->where = t;
    c->connect_deadline = now + std::chrono::duration_cast<clock::duration>(std::chrono::duration<double>(opts.connect_timeout));
    nghttp2_session_client_new(&c->session, callbacks, c.get());
    nghttp2_settings_entry settings[] = {{NGHTTP2_SETTINGS_ENABLE_PUSH, 0},
                                         {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, local_window}};
    nghttp2_submit_settings(c->session, NGHTTP2_FLAG_NONE, settings, 2);
    nghttp2_session_set_local_window_size(c->session, NGHTTP2_FLAG_NONE, 0, local_window);
    connection* raw = c.get();
    conns.push_back(std::move(c));
    if (!resolve(*raw)) {
      raw->ph = connection::phase::dead;  // its streams fail once they are attached (see start)
      return raw;
    }
    if (!connect_next(*raw)) raw->ph = connection::phase::dead;
    return raw;
  }

  connection* pick(const target& t) {
    connection* best = nullptr;
    int count = 0;
    for (auto& c : conns) {
      if (c->key != t.key || c->ph == connection::phase::dead || c->goaway) continue;
      ++count;
      int cap = streams_per_connection;
      if (c->ph == connection::phase::open) {
        uint32_t remote = nghttp2_session_get_remote_settings(c->session, NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS);
        cap = static_cast<int>(std::min<uint32_t>(remote, streams_per_connection));
      }
      if (static_cast<int>(c->streams.size()) >= std::max(cap, 1)) continue;
      if (!best || c->streams.size() < best->streams.size()) best = c.get();
    }
    if (best) return best;
    if (count < max_connections_per_host) return open_connection(t);
    for (auto& c : conns)  // every connection is full: share the least loaded
      if (c->key == t.key && c->ph != connection::phase::dead && !c->goaway &&
          (!best || c->streams.size() < best->streams.size()))
        best = c.get();
    return best ? best : open_connection(t);
  }

  // -- I/O --------------------------------------------------------------------------------------

  // Writes what is queued; false when the connection failed.
  bool flush(connection& c) {
    c.write_blocked = false;
    while (!c.out.empty()) {
      ssize_t n;
      if (c.ssl) {
        segment& s = c.out.front();
        ERR_clear_error();
        int w = SSL_write(c.ssl, s.data(), static_cast<int>(std::min<std::size_t>(s.left(), 1u << 30)));
        if (w <= 0) {
          int e = SSL_get_error(c.ssl, w);
          if (e == SSL_ERROR_WANT_WRITE || e == SSL_ERROR_WANT_READ) {
            c.write_blocked = true;
            return true;
          }
          fail_connection(c, CURLE_SEND_ERROR, fmt::format("TLS write to {} failed: {}", c.key, openssl_error()));
          return false;
        }
        n = w;
      } else {
        iovec iov[iov_batch];
        int k = 0;
        for (auto it = c.out.begin(); it != c.out.end() && k < iov_batch; ++it, ++k)
          iov[k] = {const_cast<char*>(it->data()), it->left()};
        msghdr msg{};
        msg.msg_iov = iov;
        msg.msg_iovlen = static_cast<std::size_t>(k);
        n = ::sendmsg(c.fd, &msg, MSG_NOSIGNAL);  // a closed peer is EPIPE, not SIGPIPE
        if (n < 0) {
          if (errno == EAGAIN || errno == EWOULDBLOCK) {
            c.write_blocked = true;
            return true;
          }
          if (errno == EINTR) continue;
          fail_connection(c, CURLE_SEND_ERROR, fmt::format("Send failure to {}: {}", c.key, std::strerror(errno)));
          return false;
        }
      }
      auto left = static_cast<std::size_t>(n);
      c.out_bytes -= left;
      while (left > 0) {
        segment& s = c.out.front();
        std::size_t take = std::min(left, s.left());
        s.off += take;
        left -= take;
        if (s.left() == 0) c.out.pop_front();
      }
    }
    return true;
  }

  // Lets nghttp2 produce frames and writes them, until it has nothing more or the socket is full.
  bool send(connection& c) {
    while (true) {
      if (!flush(c)) return false;
      if (c.write_blocked || !nghttp2_session_want_write(c.session)) return true;
      int rc = nghttp2_session_send(c.session);
      if (rc != 0) {
        fail_connection(c, CURLE_HTTP2, fmt::format("HTTP/2 framing error on {}: {}", c.key, nghttp2_strerror(rc)));
        return false;
      }
      if (c.out.empty()) return true;
    }
  }

  // Reads what has arrived and hands it to nghttp2; false when the connection ended.
  bool receive(connection& c) {
    while (true) {
      ssize_t n;
      if (c.ssl) {
        ERR_clear_error();
        int r = SSL_read(c.ssl, inbuf.data(), static_cast<int>(inbuf.size()));
        if (r <= 0) {
          int e = SSL_get_error(c.ssl, r);
          if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) return true;
          if (e == SSL_ERROR_ZERO_RETURN) {
            n = 0;
          } else {
            fail_connection(c, CURLE_RECV_ERROR, fmt::format("TLS read from {} failed: {}", c.key,
                                                             e == SSL_ERROR_SYSCALL && errno ? std::strerror(errno)
                                                                                             : openssl_error()));
            return false;
          }
        } else {
          n = r;
        }
      } else {
        n = ::recv(c.fd, inbuf.data(), inbuf.size(), 0);
        if (n < 0) {
          if (errno == EAGAIN || errno == EWOULDBLOCK) return true;
          if (errno == EINTR) continue;
          fail_connection(c, CURLE_RECV_ERROR, fmt::format("Recv failure from {}: {}", c.key, std::strerror(errno)));
          return false;
        }
      }
      if (n == 0) {
        fail_connection(c, CURLE_RECV_ERROR, fmt::format("{} closed the connection", c.key));
        return false;
      }
      ssize_t used = nghttp2_session_mem_recv(c.session, reinterpret_cast<const uint8_t*>(inbuf.data()),
                                              static_cast<std::size_t>(n));
      if (used < 0) {
        fail_connection(c, CURLE_HTTP2, fmt::format("HTTP/2 framing error from {}: {}", c.key,
                                                    nghttp2_strerror(static_cast<int>(used))));
        return false;
      }
      if (static_cast<std::size_t>(n) < inbuf.size() && !(c.ssl && SSL_pending(c.ssl) > 0)) return true;
    }
  }

  void service(connection& c, short revents) {
    if (c.ph == connection::phase::dead) return;
    if (c.ph == connection::phase::connecting) {
      if (!(revents & (POLLOUT | POLLERR | POLLHUP))) return;
      if (!connected(c)) return;
      if (c.ph != connection::phase::open) return;
    } else if (c.ph == connection::phase::handshaking) {
      if (!(revents & (POLLIN | POLLOUT | POLLERR | POLLHUP))) return;
      if (!handshake(c) || c.ph != connection::phase::open) return;
    } else if (revents & (POLLIN | POLLERR | POLLHUP)) {
      if (!receive(c)) return;
    }
    send(c);
  }

  void check_deadlines() {
    const double stall = opts.low_speed_seconds;
    for (auto& cp : conns) {
      connection& c = *cp;
      if (c.ph == connection::phase::dead) continue;
      if ((c.ph == connection::phase::connecting || c.ph == connection::phase::handshaking) && now >= c.connect_deadline) {
        fail_connection(c, CURLE_OPERATION_TIMEDOUT,
                        fmt::format("Connection to {} timed out after {:.0f} ms", c.key, opts.connect_timeout * 1000));
        continue;
      }
      for (std::size_t i = 0; i < c.streams.size();) {
        stream* s = c.streams[i];
        outcome o;
        if (now >= s->deadline) {
          o.reason = fmt::format("Operation timed out after {:.0f} ms", opts.timeout * 1000);
        } else if (s->responding && stall > 0 && std::chrono::duration<double>(now - s->progress_at).count() > stall) {
          o.reason = fmt::format("no data for {:.0f} s: the transfer stalled", stall);
        } else {
          ++i;
          continue;
        }
        o.t = s->t;
        o.code = CURLE_OPERATION_TIMEDOUT;
        reset(c, *s);
        done->push_back(std::move(o));
      }
    }
  }

  // Stops a stream from our side: RST_STREAM CANCEL, and the transfer is let go.
  void reset(connection& c, stream& s) {
    detach(c, s);
    if (c.session && c.ph != connection::phase::dead && s.id > 0) {
      nghttp2_submit_rst_stream(c.session, NGHTTP2_FLAG_NONE, s.id, NGHTTP2_CANCEL);
    }
  }

  void sweep() {
    // Connections that ended, and idle ones that the server said goodbye to.
    conns.erase(std::remove_if(conns.begin(), conns.end(),
                               [&](std::unique_ptr<connection>& c) {
                                 if (c->ph != connection::phase::dead && c->goaway && c->streams.empty())
                                   close_connection(*c);
                                 return c->ph == connection::phase::dead;
                               }),
                conns.end());
  }
};

thread_local pool::impl* pool::impl::self = nullptr;

pool::pool(const client_options& opts) : impl_(std::make_unique<impl>(opts)) {}

pool::~pool() = default;

bool pool::accepts(std::string_view url) const {
  target t;
  if (!parse_target(url, t)) return false;
  if (!impl_->opts.proxy.empty()) return false;
  const std::string& proxy = t.tls ? impl_->https_proxy : impl_->http_proxy;
  return proxy.empty() || no_proxy_matches(impl_->no_proxy, t.host);
}

void pool::start(transfer& t, clock::time_point now) {
  impl& m = *impl_;
  impl::self = &m;
  m.now = now;
  target where;
  parse_target(t.req->url, where);  // accepts() said yes
  connection* c = m.pick(where);
  auto* s = new stream();
  s->t = &t;
  s->conn = c;
  s->body = &t.req->body;
  s->hold = t.keep_alive;
  s->progress_at = now;
  s->deadline = now + std::chrono::duration_cast<clock::duration>(std::chrono::duration<double>(m.opts.timeout));
  t.current = s;
  c->streams.push_back(s);

  std::vector<nghttp2_nv> nva;
  std::vector<std::string> lowered;
  lowered.reserve(t.req->headers.size() + 1);
  auto add = [&](std::string_view name, std::string_view value) {
    nva.push_back({reinterpret_cast<uint8_t*>(const_cast<char*>(name.data())),
                   reinterpret_cast<uint8_t*>(const_cast<char*>(value.data())), name.size(), value.size(),
                   NGHTTP2_NV_FLAG_NONE});
  };
  const std::string scheme = where.tls ? "https" : "http";
  add(":method", t.req->method);
  add(":scheme", scheme);
  add(":authority", where.authority);
  add(":path", where.path);
  bool has_ua = false;
  for (const auto& h : t.req->headers) {
    if (connection_specific(h.name)) continue;
    std::string& n = lowered.emplace_back(h.name);
    for (char& ch : n) ch = lower(ch);
    if (n == "te" && !iequals(h.value, "trailers")) continue;
    has_ua = has_ua || n == "user-agent";
    add(n, h.value);
  }
  const std::string ua = m.opts.user_agent;
  if (!has_ua && !ua.empty()) add("user-agent", ua);

  nghttp2_data_provider provider{};
  provider.source.ptr = s;
  provider.read_callback = &impl::on_read;
  bool has_body = !t.req->body.empty();
  std::int32_t id = c->session ? nghttp2_submit_request(c->session, nullptr, nva.data(), nva.size(),
                                                        has_body ? &provider : nullptr, s)
                               : -1;
  m.done = &m.early;
  if (c->ph == connection::phase::dead) {
    // Resolving or connecting failed at once: the transfer ends on the next perform().
    std::string why = c->connect_error.empty() ? "no address to connect to" : c->connect_error;
    m.fail_connection(*c, why.rfind("Could not resolve", 0) == 0 ? CURLE_COULDNT_RESOLVE_HOST : CURLE_COULDNT_CONNECT,
                      why);
  } else if (id < 0) {
    c->goaway = true;  // out of stream ids, or broken: no new streams here
    m.early.push_back({&t, CURLE_HTTP2, 0, fmt::format("HTTP/2 request on {} failed: {}", c->key, nghttp2_strerror(id))});
    t.current = nullptr;
    impl::erase(c->streams, s);
    delete s;
  } else {
    s->id = id;
    if (c->ph == connection::phase::open) m.send(*c);
  }
  m.done = nullptr;
}

void pool::cancel(transfer& t) {
  impl& m = *impl_;
  impl::self = &m;
  m.early.erase(std::remove_if(m.early.begin(), m.early.end(), [&](const outcome& o) { return o.t == &t; }),
                m.early.end());
  stream* s = t.current;
  if (!s) return;
  connection& c = *s->conn;
  m.reset(c, *s);
  m.done = &m.early;
  if (c.ph == connection::phase::open) m.send(c);
  m.done = nullptr;
}

void pool::wait_fds(std::vector<curl_waitfd>& fds) const {
  for (const auto& cp : impl_->conns) {
    const connection& c = *cp;
    if (c.fd < 0 || c.ph == connection::phase::dead) continue;
    short events = 0;
    switch (c.ph) {
      case connection::phase::connecting: events = CURL_WAIT_POLLOUT; break;
      case connection::phase::handshaking: events = c.ssl_wants == POLLIN ? CURL_WAIT_POLLIN : CURL_WAIT_POLLOUT; break;
      default: events = static_cast<short>(CURL_WAIT_POLLIN | (c.write_blocked ? CURL_WAIT_POLLOUT : 0)); break;
    }
    fds.push_back({c.fd, events, 0});
  }
}

void pool::perform(const std::vector<curl_waitfd>& polled, clock::time_point now, std::vector<outcome>& done) {
  impl& m = *impl_;
  impl::self = &m;
  m.now = now;
  for (auto& o : m.early) done.push_back(std::move(o));
  m.early.clear();
  m.done = &done;
  for (std::size_t i = 0; i < m.conns.size(); ++i) {
    connection& c = *m.conns[i];
    if (c.ph == connection::phase::dead) continue;
    short revents = 0;
    for (const auto& f : polled)
      if (f.fd == c.fd) revents = static_cast<short>(f.revents);
    short ev = 0;
    if (revents & CURL_WAIT_POLLIN) ev |= POLLIN;
    if (revents & CURL_WAIT_POLLOUT) ev |= POLLOUT;
    if (revents & ~(CURL_WAIT_POLLIN | CURL_WAIT_POLLOUT | CURL_WAIT_POLLPRI)) ev |= POLLERR;
    if (c.ph == connection::phase::open && !ev && !c.write_blocked && !nghttp2_session_want_write(c.session)) continue;
    m.service(c, ev);
  }
  if (now >= m.next_check) {
    m.next_check = now + std::chrono::milliseconds(100);
    m.check_deadlines();
    for (auto& cp : m.conns)
      if (cp->ph == connection::phase::open) m.send(*cp);  // the resets just queued
  }
  m.sweep();
  m.done = nullptr;
}

int pool::timeout_ms(clock::time_point now, int cap) const {
  if (!impl_->early.empty()) return 0;
  if (impl_->conns.empty()) return cap;
  auto ms = std::chrono::ceil<std::chrono::milliseconds>(impl_->next_check - now).count();
  return static_cast<int>(std::clamp<long long>(ms, 0, cap));
}

void pool::abort_all(std::vector<outcome>& done) {
  impl& m = *impl_;
  impl::self = &m;
  for (auto& o : m.early) done.push_back(std::move(o));
  m.early.clear();
  m.done = &done;
  for (auto& cp : m.conns) m.fail_connection(*cp, CURLE_ABORTED_BY_CALLBACK, "the client is shutting down");
  m.done = nullptr;
  m.conns.clear();
}

std::size_t pool::connections() const { return impl_->conns.size(); }

}  // namespace backfill::http::h2
