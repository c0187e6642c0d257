// The engine's own HTTP/2 connections for gRPC calls (cpp/src/http/h2/), against an HTTP/2
// server made here with nghttp2's server side, on 127.0.0.1: bodies arrive whole and in order,
// connections are kept and shared, frames respect the server's size limit, and a dropped
// connection, a GOAWAY, a timeout, a cancel and a client destroyed mid-call all end as they should.
// Run under ASan/UBSan too, which is where the pool's lifetimes are checked.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <nghttp2/nghttp2.h>
#include <poll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstring>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "../../cpp/src/http/h2/connection.hpp"
#include "backfill/core/errors.hpp"
#include "backfill/http/client.hpp"
#include "loopback.hpp"

using namespace backfill;

namespace {

// A gRPC-ish HTTP/2 server: every call is answered with a 5-byte-prefixed message holding the
// request body's length and a byte sum, and grpc-status 0 in the trailers.
class h2_server {
 public:
  struct options {
    std::uint32_t max_frame_size = 16384;
    int drop_calls = 0;           // the first n calls: the connection closes once their request arrived
    int goaway_after = 0;         // a connection answers n calls, then GOAWAY and close
    int delay_ms = 0;             // before each answer
    bool ping_when_idle = false;  // once a connection has been quiet for 100 ms after an answer, a PING
    int refuse_streams = 0;       // the first n calls are reset with REFUSED_STREAM as their headers arrive
  };

  explicit h2_server(options o) : opts_(o) {
    fd_ = backfill::test_net::listen_loopback(port_);
    accept_thread_ = std::thread([this] { accept_loop(); });
  }

  ~h2_server() {
    stop_ = true;
    ::shutdown(fd_, SHUT_RDWR);
    ::close(fd_);
    accept_thread_.join();
    for (auto& t : conn_threads_) t.join();
  }

  std::string url(const std::string& path = "/svc/Call") const {
    return "http://127.0.0.1:" + std::to_string(port_) + path;
  }
  int connections() const { return connections_.load(); }
  int calls() const { return calls_.load(); }
  std::size_t max_data_frame() const { return max_frame_seen_.load(); }
  int ping_acks() const { return ping_acks_.load(); }
  int refused() const { return std::min(refusing_.load(), opts_.refuse_streams); }

 private:
  struct call {
    std::string path;
    std::string body;
    std::string answer;
    std::size_t sent = 0;
  };
  struct conn {
    h2_server* self;
    int fd;
    nghttp2_session* session = nullptr;
    std::map<std::int32_t, call> calls;
    int answered = 0;
    bool close_now = false;
    bool answered_any = false;
    std::set<std::int32_t> refused;
  };

  void accept_loop() {
    while (!stop_) {
      int c = ::accept(fd_, nullptr, nullptr);
      if (c < 0) return;
      int one = 1;
      setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
      ++connections_;
      std::lock_guard<std::mutex> lock(mutex_);
      conn_threads_.emplace_back([this, c] { serve(c); });
    }
  }

  static ssize_t on_send(nghttp2_session*, const uint8_t* data, std::size_t n, int, void* user) {
    auto* c = static_cast<conn*>(user);
    ssize_t w = ::send(c->fd, data, n, MSG_NOSIGNAL);
    return w < 0 ? static_cast<ssize_t>(NGHTTP2_ERR_CALLBACK_FAILURE) : w;
  }

  static int on_header(nghttp2_session*, const nghttp2_frame* f, const uint8_t* name, std::size_t nl,
                       const uint8_t* value, std::size_t vl, uint8_t, void* user) {
    auto* c = static_cast<conn*>(user);
    if (std::string(reinterpret_cast<const char*>(name), nl) == ":path")
      c->calls[f->hd.stream_id].path.assign(reinterpret_cast<const char*>(value), vl);
    return 0;
  }

  static int on_data(nghttp2_session*, uint8_t, std::int32_t id, const uint8_t* data, std::size_t n,
                     void* user) {
    static_cast<conn*>(user)->calls[id].body.append(reinterpret_cast<const char*>(data), n);
    return 0;
  }

  static int on_frame(nghttp2_session* session, const nghttp2_frame* f, void* user) {
    auto* c = static_cast<conn*>(user);
    if (f->hd.type == NGHTTP2_PING && (f->hd.flags & NGHTTP2_FLAG_ACK)) ++c->self->ping_acks_;
    if (f->hd.type == NGHTTP2_DATA) {
      std::size_t len = f->hd.length;
      std::size_t seen = c->self->max_frame_seen_.load();
      while (len > seen && !c->self->max_frame_seen_.compare_exchange_weak(seen, len)) {
      }
    }
    h2_server& s = *c->self;
    if (f->hd.type == NGHTTP2_HEADERS && f->headers.cat == NGHTTP2_HCAT_REQUEST &&
        s.refusing_.fetch_add(1) < s.opts_.refuse_streams) {
      nghttp2_submit_rst_stream(session, NGHTTP2_FLAG_NONE, f->hd.stream_id, NGHTTP2_REFUSED_STREAM);
      c->refused.insert(f->hd.stream_id);
      return 0;
    }
    bool ends = (f->hd.type == NGHTTP2_DATA || f->hd.type == NGHTTP2_HEADERS) &&
                (f->hd.flags & NGHTTP2_FLAG_END_STREAM);
    if (!ends || c->refused.count(f->hd.stream_id)) return 0;
    if (s.dropped_.fetch_add(1) < s.opts_.drop_calls) {
      c->close_now = true;
      return 0;
    }
    ++s.calls_;
    if (s.opts_.delay_ms) std::this_thread::sleep_for(std::chrono::milliseconds(s.opts_.delay_ms));
    call& k = c->calls[f->hd.stream_id];
    unsigned sum = 0;
    for (unsigned char ch : k.body) sum += ch;
    std::string msg = std::to_string(k.body.size()) + ":" + std::to_string(sum);
    k.answer.assign(1, '\0');
    for (int shift = 24; shift >= 0; shift -= 8)
      k.answer.push_back(static_cast<char>((msg.size() >> shift) & 0xff));
    k.answer += msg;
    nghttp2_nv head[] = {
        {(uint8_t*)":status", (uint8_t*)"200", 7, 3, NGHTTP2_NV_FLAG_NONE},
        {(uint8_t*)"content-type", (uint8_t*)"application/grpc", 12, 16, NGHTTP2_NV_FLAG_NONE}};
    nghttp2_data_provider p{};
    p.source.ptr = &k;
    p.read_callback = [](nghttp2_session* ss, std::int32_t id, uint8_t* buf, std::size_t len, uint32_t* flags,
                         nghttp2_data_source* src, void*) -> ssize_t {
      auto* kk = static_cast<call*>(src->ptr);
      std::size_t n = std::min(len, kk->answer.size() - kk->sent);
      std::memcpy(buf, kk->answer.data() + kk->sent, n);
      kk->sent += n;
      if (kk->sent == kk->answer.size()) {
        *flags |= NGHTTP2_DATA_FLAG_EOF | NGHTTP2_DATA_FLAG_NO_END_STREAM;
        nghttp2_nv trailer[] = {{(uint8_t*)"grpc-status", (uint8_t*)"0", 11, 1, NGHTTP2_NV_FLAG_NONE}};
        nghttp2_submit_trailer(ss, id, trailer, 1);
      }
      return static_cast<ssize_t>(n);
    };
    nghttp2_submit_response(session, f->hd.stream_id, head, 2, &p);
    c->answered_any = true;
    if (s.opts_.goaway_after && ++c->answered >= s.opts_.goaway_after) {
      nghttp2_submit_goaway(session, NGHTTP2_FLAG_NONE, f->hd.stream_id, NGHTTP2_NO_ERROR, nullptr, 0);
      c->close_now = true;
    }
    return 0;
  }

  void serve(int fd) {
    conn c{this, fd, nullptr, {}, 0, false, false, {}};
    nghttp2_session_callbacks* cb;
    nghttp2_session_callbacks_new(&cb);
    nghttp2_session_callbacks_set_send_callback(cb, &on_send);
    nghttp2_session_callbacks_set_on_header_callback(cb, &on_header);
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cb, &on_data);
    nghttp2_session_callbacks_set_on_frame_recv_callback(cb, &on_frame);
    nghttp2_session_server_new(&c.session, cb, &c);
    nghttp2_session_callbacks_del(cb);
    nghttp2_settings_entry iv[] = {{NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, 100},
                                   {NGHTTP2_SETTINGS_MAX_FRAME_SIZE, opts_.max_frame_size},
                                   {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, 1 << 24}};
    nghttp2_submit_settings(c.session, NGHTTP2_FLAG_NONE, iv, 3);
    nghttp2_session_set_local_window_size(c.session, NGHTTP2_FLAG_NONE, 0, 1 << 24);
    std::vector<uint8_t> buf(1 << 16);
    int quiet_ms = 0;
    bool pinged = false;
    while (!stop_) {
      if (nghttp2_session_send(c.session) != 0) break;
      if (c.close_now) break;
      pollfd p{fd, POLLIN, 0};
      if (::poll(&p, 1, 50) <= 0) {
        quiet_ms += 50;
        if (opts_.ping_when_idle && c.answered_any && !pinged && quiet_ms >= 100) {
          nghttp2_submit_ping(c.session, NGHTTP2_FLAG_NONE, nullptr);
          pinged = true;
        }
        continue;
      }
      quiet_ms = 0;
      ssize_t n = ::recv(fd, buf.data(), buf.size(), 0);
      if (n <= 0) break;
      if (nghttp2_session_mem_recv(c.session, buf.data(), static_cast<std::size_t>(n)) < 0) break;
    }
    nghttp2_session_send(c.session);
    nghttp2_session_del(c.session);
    ::close(fd);
  }

  options opts_;
  int fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<int> connections_{0}, calls_{0}, dropped_{0}, ping_acks_{0}, refusing_{0};
  std::atomic<std::size_t> max_frame_seen_{0};
  std::mutex mutex_;
  std::thread accept_thread_;
  std::vector<std::thread> conn_threads_;
};

http::request grpc_call(const std::string& url, std::string body) {
  http::request r;
  r.method = "POST";
  r.url = url;
  r.headers = {{"Content-Type", "application/grpc"}, {"TE", "trailers"}};
  r.body = std::move(body);
  r.grpc = true;
  return r;
}

std::string pattern(std::size_t n, unsigned seed) {
  std::string s(n, '\0');
  for (std::size_t i = 0; i < n; ++i) s[i] = static_cast<char>((i * 131 + seed * 7) & 0xff);
  return s;
}

std::string expected_answer(const std::string& body) {
  unsigned sum = 0;
  for (unsigned char ch : body) sum += ch;
  return std::to_string(body.size()) + ":" + std::to_string(sum);
}

http::client_options fast_retries(int max_attempts = 4) {
  http::client_options o;
  o.retry.base_delay = 0.01;
  o.retry.max_attempts = max_attempts;
  o.default_limit.max_in_flight = 8;
  return o;
}

// The message of the error a call ends with; a test failure when it succeeds.
std::string error_of(http::client& client, http::request r) {
  try {
    client.execute(std::move(r));
  } catch (const http::http_error& e) {
    return e.what();
  }
  ADD_FAILURE() << "the call succeeded";
  return {};
}

bool has(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

// n calls of `body`, submitted at once.
std::vector<http::client::handle> submit_calls(http::client& client, const h2_server& server,
                                               const std::string& body, int n) {
  std::vector<http::client::handle> handles;
  for (int i = 0; i < n; ++i) handles.push_back(client.submit(grpc_call(server.url(), body)));
  return handles;
}

}  // namespace

TEST(HttpH2, CallsArriveWholeOnKeptSharedConnections) {
  h2_server server({});
  http::client client(fast_retries());
  std::vector<std::string> bodies;
  std::vector<http::client::handle> handles;
  for (unsigned i = 0; i < 24; ++i) {
    bodies.push_back(pattern(i % 3 == 0 ? 3'000'000 : 1000 + i * 777, i));
    handles.push_back(client.submit(grpc_call(server.url(), bodies.back())));
  }
  for (std::size_t i = 0; i < handles.size(); ++i) {
    http::response r = client.wait(handles[i]);
    EXPECT_EQ(r.status, 200);
    ASSERT_GE(r.body.size(), 5u);
    EXPECT_EQ(r.body.substr(5), expected_answer(bodies[i])) << "call " << i;
    const std::string* gs = r.find("grpc-status");
    ASSERT_NE(gs, nullptr);
    EXPECT_EQ(*gs, "0");
  }
  EXPECT_EQ(server.calls(), 24);
  EXPECT_LE(server.connections(), 2);  // 8 at once, 4 calls a connection
  EXPECT_EQ(server.max_data_frame(), 16384u);
  EXPECT_EQ(client.stats().retries, 0);
}

TEST(HttpH2, DataFramesGrowToWhatTheServerAllows) {
  h2_server::options o;
  o.max_frame_size = 1 << 20;
  h2_server server(o);
  http::client client(fast_retries());
  std::string body = pattern(2'500'000, 3);
  http::response r = client.execute(grpc_call(server.url(), body));  // the first call: before SETTINGS
  r = client.execute(grpc_call(server.url(), body));                 // the second: frames of up to 1 MB
  EXPECT_EQ(r.body.substr(5), expected_answer(body));
  EXPECT_EQ(server.max_data_frame(), std::size_t{1} << 20);
  EXPECT_EQ(server.connections(), 1);
}

TEST(HttpH2, DroppedConnectionsAndGoawayAreRetried) {
  {
    h2_server::options o;
    o.drop_calls = 2;
    h2_server server(o);
    http::client client(fast_retries());
    std::string body = pattern(50'000, 1);
    http::response r = client.execute(grpc_call(server.url(), body));
    EXPECT_EQ(r.body.substr(5), expected_answer(body));
    EXPECT_EQ(r.attempts, 3);
    EXPECT_EQ(server.connections(), 3);
  }
  {
    h2_server::options o;
    o.goaway_after = 3;
    h2_server server(o);
    // A connection takes 4 calls and answers 3, then sends GOAWAY and closes. A call past the
    // GOAWAY's last stream is refused unprocessed and sent again without counting; one the server
    // took but left unanswered when it closed (calls end out of order) counts as an attempt, so
    // this client allows more of them.
    http::client client(fast_retries(12));
    std::string body = pattern(20'000, 2);
    for (auto& h : submit_calls(client, server, body, 20))
      EXPECT_EQ(client.wait(h).body.substr(5), expected_answer(body));
    EXPECT_GE(server.connections(), 7);  // 20 calls, 3 a connection
  }
}

// A refused stream reached no application (RFC 9113, 8.7): it is sent again at once without
// counting as an attempt, so one attempt is enough here; a server that refuses everything still
// ends the call, after a bounded number of free tries.
TEST(HttpH2, RefusedStreamsAreSentAgainWithoutCountingAnAttempt) {
  {
    h2_server::options o;
    o.refuse_streams = 5;
    h2_server server(o);
    http::client client(fast_retries(1));
    std::string body = pattern(30'000, 4);
    for (auto& h : submit_calls(client, server, body, 3)) {
      http::response r = client.wait(h);
      EXPECT_EQ(r.body.substr(5), expected_answer(body));
      EXPECT_EQ(r.attempts, 1);
    }
    EXPECT_EQ(server.refused(), 5);
    EXPECT_EQ(server.calls(), 3);
    EXPECT_EQ(client.stats().retries, 5);
    EXPECT_EQ(client.stats().failures, 0);
  }
  {
    h2_server::options o;
    o.refuse_streams = 1000;
    h2_server server(o);
    http::client client(fast_retries(2));
    std::string error = error_of(client, grpc_call(server.url(), "x"));
    EXPECT_TRUE(has(error, "REFUSED_STREAM") && has(error, "(2 attempts)")) << error;
    EXPECT_EQ(server.refused(), 18);  // 16 free tries, and the 2 attempts
    EXPECT_EQ(server.calls(), 0);
  }
}

TEST(HttpH2, TimeoutCancelAndShutdownEndCalls) {
  h2_server::options o;
  o.delay_ms = 400;
  h2_server server(o);
  {
    http::client_options opts = fast_retries(1);
    opts.timeout = 0.1;
    http::client client(opts);
    std::string error = error_of(client, grpc_call(server.url(), "abc"));
    EXPECT_TRUE(has(error, "timed out") && has(error, "/svc/Call")) << error;
  }
  {
    http::client client(fast_retries());
    auto h = client.submit(grpc_call(server.url(), pattern(100'000, 4)));
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    client.cancel(h);
    EXPECT_THROW(client.wait(h), cancelled);
    // The connection stays usable after the reset.
    EXPECT_EQ(client.execute(grpc_call(server.url(), "xyz")).body.substr(5), expected_answer("xyz"));
  }
  http::client::handle orphan;
  {
    http::client client(fast_retries());
    orphan = client.submit(grpc_call(server.url(), pattern(10'000, 5)));
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }  // destroyed mid-call: the call ends as cancelled, its memory stays valid
}

double process_cpu_seconds() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
         static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
}

TEST(HttpH2, IdleConnectionsAreServedAndLetGo) {
  {
    // The server PINGs a connection with no call on it: the loop reads it and answers, and does not
    // spin on a readable socket it never reads.
    h2_server::options o;
    o.ping_when_idle = true;
    h2_server server(o);
    http::client client(fast_retries());
    EXPECT_EQ(client.execute(grpc_call(server.url(), "one")).body.substr(5), expected_answer("one"));
    double cpu = process_cpu_seconds();
    for (int i = 0; i < 40 && server.ping_acks() == 0; ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(25));
    EXPECT_EQ(server.ping_acks(), 1);
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    EXPECT_LT(process_cpu_seconds() - cpu, 0.5);
    EXPECT_EQ(client.execute(grpc_call(server.url(), "two")).body.substr(5), expected_answer("two"));
    EXPECT_EQ(server.connections(), 1);
  }
  {
    // GOAWAY and a close after the last answer: the next call opens a new connection.
    h2_server::options o;
    o.goaway_after = 1;
    h2_server server(o);
    http::client client(fast_retries());
    EXPECT_EQ(client.execute(grpc_call(server.url(), "one")).body.substr(5), expected_answer("one"));
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    EXPECT_EQ(client.execute(grpc_call(server.url(), "two")).body.substr(5), expected_answer("two"));
    EXPECT_EQ(server.connections(), 2);
    EXPECT_EQ(client.stats().retries, 0);
  }
}

TEST(HttpH2, ConnectErrorsAreTheEnginesErrors) {
  int port;
  {
    h2_server server({});
    port = std::stoi(server.url().substr(17, 5));
  }
  http::client client(fast_retries(2));
  try {
    client.execute(grpc_call("http://127.0.0.1:" + std::to_string(port) + "/svc/Call", "a"));
    FAIL() << "connected to a closed port";
  } catch (const http::http_error& e) {
    EXPECT_NE(std::string(e.what()).find("Failed to connect to 127.0.0.1 port " + std::to_string(port)),
              std::string::npos)
        << e.what();
    EXPECT_EQ(e.attempts(), 2);
    EXPECT_TRUE(e.retryable());
  }
}

TEST(HttpH2, NoProxyMatchesAsLibcurlReadsIt) {
  using http::h2::no_proxy_matches;
  EXPECT_TRUE(no_proxy_matches("*", "api.pinecone.io"));
  EXPECT_TRUE(no_proxy_matches("localhost, 127.0.0.1", "127.0.0.1"));
  EXPECT_TRUE(no_proxy_matches("pinecone.io", "idx-1.svc.pinecone.io"));
  EXPECT_TRUE(no_proxy_matches(".pinecone.io", "idx-1.svc.pinecone.io"));
  EXPECT_TRUE(no_proxy_matches("Pinecone.IO", "pinecone.io"));
  EXPECT_TRUE(no_proxy_matches("example.com,[::1]", "[::1]"));
  EXPECT_FALSE(no_proxy_matches("pinecone.io", "notpinecone.io"));
  EXPECT_FALSE(no_proxy_matches("", "pinecone.io"));
  EXPECT_FALSE(no_proxy_matches("127.0.0.1", "127.0.0.12"));
}
