// The HTTP client: one loop thread drives a libcurl multi handle; any thread submits requests and
// waits for them. The loop owns every transfer, retry timer and per-host limiter, so none of that
// state needs a lock; only the hand-over queues do.
//
// The per-request path is kept short, because a bare libcurl loop is the yardstick
// (bench/http_bench.py): easy handles are configured once and keep their options between
// transfers (only the URL, the method and the header list change); the User-Agent and
// Accept-Encoding lines ride in a prebuilt header list, so libcurl does not format them again for
// every transfer; responses handed back with recycle() lend their memory (body, header strings,
// URL) to later ones, so a steady stream of responses allocates nothing for them; waiters are
// woken in one go when the loop is about to sleep, not once per response.
#include <curl/curl.h>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include <pthread.h>

#include <algorithm>
#include <atomic>
#include <csignal>
#include <charconv>
#include <cmath>
#include <condition_variable>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <mutex>
#include <random>
#include <thread>
#include <unordered_map>

#include <fmt/format.h>
#include <simdjson.h>

#include "backfill/pack/grpc.hpp"
#include "backfill/http/client.hpp"
#include "backfill/core/log.hpp"
#include "http/h2/connection.hpp"

#ifndef BACKFILL_VERSION
#define BACKFILL_VERSION "0"
#endif

namespace backfill::http {

using clock = std::chrono::steady_clock;

namespace {

struct curl_global {
  curl_global() { curl_global_init(CURL_GLOBAL_DEFAULT); }
};

void ensure_curl_global() {
  static curl_global once;
  (void)once;
}

std::string status_reason(long status) {
  switch (status) {
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

bool retryable_curl(CURLcode rc) {
  switch (rc) {
    case CURLE_COULDNT_CONNECT:
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY:
    case CURLE_OPERATION_TIMEDOUT:
    case CURLE_RECV_ERROR:
    case CURLE_SEND_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_PARTIAL_FILE:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM:
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_BAD_CONTENT_ENCODING:  // a body cut short inside gzip
    case CURLE_WEIRD_SERVER_REPLY:
      return true;
    default:
      return false;
  }
}

bool contains(std::string_view body, std::string_view needle) { return body.find(needle) != std::string_view::npos; }

// contains() for a word of at least 2 bytes, 16 positions at a time where SSE2 is there: a
// position is only compared in full when its first and last letters match.
bool contains_word(std::string_view body, std::string_view word) {
#if defined(__SSE2__)
  const std::size_t m = word.size();
  std::size_t i = 0;
  if (m >= 2) {
    const __m128i first = _mm_set1_epi8(word.front()), last = _mm_set1_epi8(word.back());
    for (; i + m - 1 + 16 <= body.size(); i += 16) {
      __m128i a = _mm_loadu_si128(reinterpret_cast<const __m128i*>(body.data() + i));
      __m128i b = _mm_loadu_si128(reinterpret_cast<const __m128i*>(body.data() + i + m - 1));
      auto mask = static_cast<unsigned>(_mm_movemask_epi8(_mm_and_si128(_mm_cmpeq_epi8(a, first), _mm_cmpeq_epi8(b, last))));
      while (mask) {
        auto at = static_cast<std::size_t>(__builtin_ctz(mask));
        if (std::memcmp(body.data() + i + at + 1, word.data() + 1, m - 2) == 0) return true;
        mask &= mask - 1;
      }
    }
  }
  return contains(body.substr(i), word);  // what is left (or everything)
#else
  return contains(body, word);
#endif
}

// Slack answers some rate-limited calls with {"ok": false, "error": "ratelimited"}, even with a 200.
bool slack_ratelimited(std::string_view body) {
  if (body.size() > 4096 || !contains_word(body, "ratelimited")) return false;
  thread_local simdjson::dom::parser parser;
  simdjson::dom::element root;
  if (parser.parse(body.data(), body.size()).get(root)) return false;
  bool ok = true;
  std::string_view err;
  if (root["ok"].get(ok) || root["error"].get(err)) return false;
  return !ok && err == "ratelimited";
}

bool header_is(const response& r, std::string_view name, std::string_view value) {
  const std::string* v = r.find(name);
  return v && *v == value;
}

char ascii_lower(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }

std::string host_key_of(std::string_view url) {
  std::size_t scheme = url.find("://");
  std::size_t start = scheme == std::string_view::npos ? 0 : scheme + 3;
  std::size_t end = start;
  while (end < url.size() && url[end] != '/' && url[end] != '?' && url[end] != '#') ++end;
  std::string_view auth = url.substr(start, end - start);
  std::size_t at = auth.rfind('@');
  if (at != std::string_view::npos) auth.remove_prefix(at + 1);
  std::string key(auth);
  for (char& c : key) c = ascii_lower(c);
  return key;
}

std::string env_first(std::initializer_list<const char*> names) {
  for (const char* n : names)
    if (const char* v = std::getenv(n); v && *v) return v;
  return {};
}

bool has_header(const std::vector<header>& headers, std::string_view name) {
  for (const auto& h : headers) {
    if (h.name.size() != name.size()) continue;
    bool same = true;
    for (std::size_t i = 0; i < name.size() && same; ++i) same = ascii_lower(h.name[i]) == ascii_lower(name[i]);
    if (same) return true;
  }
  return false;
}

// What libcurl sends for CURLOPT_ACCEPT_ENCODING "" (every decoder it was built with, in its
// order), as a header line; "" when it has none.
std::string accept_encoding_line() {
  const curl_version_info_data* v = curl_version_info(CURLVERSION_NOW);
  std::string list;
  auto add = [&](const char* name) { list += (list.empty() ? "" : ", ") + std::string(name); };
  if (v->features & CURL_VERSION_LIBZ) {
    add("deflate");
    add("gzip");
  }
#ifdef CURL_VERSION_BROTLI
  if (v->features & CURL_VERSION_BROTLI) add("br");
#endif
#ifdef CURL_VERSION_ZSTD
  if (v->features & CURL_VERSION_ZSTD) add("zstd");
#endif
  return list.empty() ? "" : "Accept-Encoding: " + list;
}

// How long a ready result may wait for company while other transfers still run (see run()).
constexpr auto notify_delay = std::chrono::milliseconds(1);

// The responses recycle() keeps for reuse: a few, and not their largest bodies.
constexpr std::size_t shell_max_count = 32;
constexpr std::size_t shell_max_body = 32u << 20;
constexpr std::size_t shell_max_total = 128u << 20;

}  // namespace

namespace {

// Responses handed back by client::recycle(), their memory kept for the next ones: the body's
// capacity, the header strings (left in place past `size`: the builder counts its own) and the URL.
class shell_pool {
 public:
  response take() {
    std::lock_guard<std::mutex> lock(mutex_);
    if (shells_.empty()) return {};
    response r = std::move(shells_.back());
    shells_.pop_back();
    bytes_ -= r.body.capacity();
    return r;
  }

  void give(response&& r) {
    if (r.body.capacity() > shell_max_body) std::string().swap(r.body);
    std::lock_guard<std::mutex> lock(mutex_);
    if (shells_.size() >= shell_max_count || bytes_ + r.body.capacity() > shell_max_total) return;  // freed
    bytes_ += r.body.capacity();
    shells_.push_back(std::move(r));
  }

 private:
  std::mutex mutex_;
  std::vector<response> shells_;
  std::size_t bytes_ = 0;
};

struct easy_slot;

}  // namespace


namespace {

// The response being built: a header field into the strings a recycled response left behind,
// when there are some (`count` of them are this response's); a body chunk, with simdjson's padding
// kept in reserve.
void store_header(response& r, std::size_t& count, std::string_view name, std::string_view value) {
  auto& headers = r.headers;
  if (count == headers.size()) {
    if (headers.capacity() == 0) headers.reserve(16);
    headers.emplace_back();
  }
  header& h = headers[count++];
  h.name.assign(name);
  for (char& c : h.name) c = ascii_lower(c);
  h.value.assign(value);
  if (h.name == "content-length") {
    std::size_t len = 0;
    std::from_chars(value.data(), value.data() + value.size(), len);
    if (len > 0 && len < (std::size_t{1} << 31)) r.body.reserve(len + simdjson::SIMDJSON_PADDING);
  }
}

void append_body(std::string& body, const char* data, std::size_t bytes) {
  std::size_t need = body.size() + bytes + simdjson::SIMDJSON_PADDING;
  if (body.capacity() < need) body.reserve(std::max(body.capacity() * 2, need));
  body.append(data, bytes);
}

}  // namespace

// One request's life: owned by the loop while in flight; the waiter only reads `done` under the lock.
class client::pending {
 public:
  request req;
  std::string host;
  clock::time_point submitted;
  std::atomic<bool> cancelled{false};

  // completion, under mutex
  std::mutex mutex;
  std::condition_variable cv;
  bool done = false;
  int waiters = 0;  // threads blocked in wait(): only they need a notification
  response result;
  std::exception_ptr error;

  // loop-owned
  int attempts = 0;
  int refusals = 0;  // streams the server refused unprocessed, sent again without counting an attempt
  bool stalled = false;
  bool responding = false;  // a response line arrived: from then on, silence is a stall
  curl_off_t progress_bytes = -1;
  clock::time_point progress_at{};
  easy_slot* slot = nullptr;  // while a transfer runs
  std::size_t header_count = 0;  // of building.headers, which may hold more (recycled) strings
  // The request's own header lines, linked in front of the client's shared ones (built once, kept
  // for the retries).
  std::vector<std::string> header_lines;
  std::vector<curl_slist> header_nodes;
  response building;

  // The request on the engine's own HTTP/2 connections (gRPC calls; see h2/connection.hpp).
  struct native_transfer final : h2::transfer {
    pending* p = nullptr;
    void on_response_begin(long) override {
      p->header_count = 0;
      p->responding = true;
    }
    void on_header(std::string_view name, std::string_view value) override {
      store_header(p->building, p->header_count, name, value);
    }
    void on_data(const char* data, std::size_t n) override { append_body(p->building.body, data, n); }
  };
  native_transfer native;
  bool on_native = false;  // running there now
};

namespace {

// An easy handle with the options every transfer of the client shares, set once. Between
// transfers it keeps them: only what a request changes is set again.
struct easy_slot {
  CURL* easy = nullptr;
  client::handle current;      // the request it is transferring, if any
  bool custom_method = false;  // CURLOPT_CUSTOMREQUEST is set
  bool post_fields = false;    // CURLOPT_POSTFIELDS is set
  char errbuf[CURL_ERROR_SIZE] = {};
  shell_pool* shells = nullptr;  // what the callbacks need from the client
};

}  // namespace

struct client::impl {
  client_options opts;
  scrubber scrub_secrets;
  CURLM* multi = nullptr;
  CURLSH* share = nullptr;
  std::thread loop;

  std::mutex mutex;  // guards incoming, cancels, stopping
  std::vector<handle> incoming;
  std::vector<handle> cancels;
  bool stopping = false;

  struct counters {
    std::atomic<std::int64_t> requests{0}, attempts{0}, retries{0}, failures{0}, bytes_received{0};
    std::atomic<int> max_in_flight{0};
  } stats;

  struct host_state {
    host_limit limit;
    double tokens = 0;
    clock::time_point refilled;
    double rate_factor = 1.0;      // multiplies limit.rate; halves on 429, recovers per success
    double window = 0;             // adaptive cap on requests in flight (AIMD)
    clock::time_point paused_until{};
    int in_flight = 0;
    std::deque<handle> queue;
  };
  std::unordered_map<std::string, host_state> hosts;
  std::multimap<clock::time_point, handle> timers;
  std::vector<std::unique_ptr<easy_slot>> slots;  // every easy handle
  std::vector<easy_slot*> idle;                   // those without a transfer
  int in_flight = 0;
  std::mt19937_64 rng{std::random_device{}()};
  clock::time_point loop_now = clock::now();  // when the loop last looked at the clock
  std::vector<handle> to_notify;              // finished while someone waited: woken before the loop sleeps
  clock::time_point notify_due{};             // ... or by then, if the loop keeps busy
  clock::time_point stall_check{};            // when check_stalls() looks next

  // Header lines every request carries unless it brings its own: User-Agent, Accept-Encoding and,
  // with a body, an empty Expect (no 100-continue round trip). A request's own lines are linked in
  // front. [0]: without a body, [1]: with one.
  std::string ua_line, ae_line, proxy_ua_line;
  curl_slist expect_node{}, proxy_ua_node{};
  curl_slist ae_node[2]{}, ua_node[2]{}, ua_only_node[2]{};

  shell_pool shells;  // responses handed back by recycle()

  // gRPC calls on the engine's own HTTP/2 connections (h2/connection.hpp), polled with libcurl's sockets.
  std::unique_ptr<h2::pool> native;
  std::unordered_map<const h2::transfer*, handle> native_running;
  std::vector<curl_waitfd> native_fds;     // what the last poll waited for, with what it found
  std::vector<h2::outcome> native_done;

  explicit impl(client_options o) : opts(std::move(o)), scrub_secrets(opts.secrets) {
    ensure_curl_global();
    std::map<std::string, host_limit> lowered;  // hosts compare case-insensitively
    for (auto& [k, v] : opts.host_limits) {
      std::string key;
      for (char c : k) key.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
      lowered[key] = v;
    }
    opts.host_limits = std::move(lowered);
    if (opts.user_agent.empty()) opts.user_agent = std::string("backfill/") + BACKFILL_VERSION;
    if (opts.ca_bundle.empty()) opts.ca_bundle = env_first({"SSL_CERT_FILE", "CURL_CA_BUNDLE", "REQUESTS_CA_BUNDLE"});
    if (!opts.verify_tls) logger()->warn("http: TLS certificate verification is OFF for this client");

    ua_line = "User-Agent: " + opts.user_agent;
    proxy_ua_line = ua_line;
    ae_line = accept_encoding_line();
    expect_node = {const_cast<char*>("Expect:"), nullptr};
    for (int body = 0; body < 2; ++body) {
      curl_slist* tail = body ? &expect_node : nullptr;
      ae_node[body] = {ae_line.data(), tail};
      ua_node[body] = {ua_line.data(), ae_line.empty() ? tail : &ae_node[body]};
      ua_only_node[body] = {ua_line.data(), tail};
    }
    proxy_ua_node = {proxy_ua_line.data(), nullptr};

    multi = curl_multi_init();
    curl_multi_setopt(multi, CURLMOPT_PIPELINING, CURLPIPE_MULTIPLEX);
    curl_multi_setopt(multi, CURLMOPT_MAX_TOTAL_CONNECTIONS, static_cast<long>(opts.max_total_in_flight));
    if (opts.native_http2) native = std::make_unique<h2::pool>(opts);
    share = curl_share_init();
    curl_share_setopt(share, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS);
    curl_share_setopt(share, CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION);
    loop = std::thread([this] { run(); });
  }

  ~impl() {
    {
      std::lock_guard<std::mutex> lock(mutex);
      stopping = true;
    }
    curl_multi_wakeup(multi);
    loop.join();
    for (auto& s : slots) curl_easy_cleanup(s->easy);
    curl_multi_cleanup(multi);
    curl_share_cleanup(share);
  }

  host_state& host(const std::string& key) {
    auto it = hosts.find(key);
    if (it != hosts.end()) return it->second;
    host_state h;
    auto lim = opts.host_limits.find(key);
    if (lim == opts.host_limits.end()) {
      std::string bare = key.substr(0, key.rfind(':'));
      lim = opts.host_limits.find(bare);
    }
    h.limit = lim != opts.host_limits.end() ? lim->second : opts.default_limit;
    h.limit.max_in_flight = std::max(1, h.limit.max_in_flight);
    h.limit.burst = std::max(1.0, h.limit.burst);
    h.tokens = h.limit.burst;
    h.refilled = clock::now();
    h.window = h.limit.max_in_flight;
    return hosts.emplace(key, std::move(h)).first->second;
  }

  std::string scrub(std::string_view text) const { return scrub_secrets(text); }

  // -- completion --------------------------------------------------------------------------------

  void complete(const handle& h, response* r, std::exception_ptr err) {
    bool wake;
    {
      std::lock_guard<std::mutex> lock(h->mutex);
      if (r) h->result = std::move(*r);
      h->error = err;
      h->done = true;
      wake = h->waiters > 0;
    }
    // Only a thread blocked on this request needs a futex call, and it gets it from
    // notify_waiters(), when the loop is about to wait for the network (see run()).
    if (wake) {
      if (to_notify.empty()) notify_due = loop_now + notify_delay;
      to_notify.push_back(h);
    }
  }

  void notify_waiters() {
    for (auto& h : to_notify) h->cv.notify_all();
    to_notify.clear();
  }

  // Set while the loop sleeps in curl_multi_poll: only then does a submission need to wake it.
  std::atomic<bool> polling{false};

  void wake() {
    if (polling.exchange(false, std::memory_order_acq_rel)) curl_multi_wakeup(multi);  // one wake-up per sleep
  }

  // -- the loop ---------------------------------------------------------------------------------

  // Takes the hand-overs, starts what the limits allow; returns how long the loop may sleep (ms).
  int dispatch(std::vector<handle>& fresh, std::vector<handle>& cancel_now) {
    for (auto& h : fresh) host(h->host).queue.push_back(std::move(h));
    fresh.clear();
    for (auto& h : cancel_now) abandon(h);
    cancel_now.clear();

    auto now = loop_now = clock::now();
    while (!timers.empty() && timers.begin()->first <= now) {
      handle h = timers.begin()->second;
      timers.erase(timers.begin());
      host(h->host).queue.push_front(std::move(h));  // a retry goes before newer work
    }
    auto wake_at = now + std::chrono::milliseconds(100);
    if (!timers.empty()) wake_at = std::min(wake_at, timers.begin()->first);
    for (auto& [key, hs] : hosts) {
      while (!hs.queue.empty()) {
        if (in_flight >= opts.max_total_in_flight) break;
        if (hs.in_flight >= std::max(1, static_cast<int>(hs.window))) break;
        if (now < hs.paused_until) {
          wake_at = std::min(wake_at, hs.paused_until);
          break;
        }
        if (hs.limit.rate > 0) {
          double rate = hs.limit.rate * hs.rate_factor;
          double dt = std::chrono::duration<double>(now - hs.refilled).count();
          hs.tokens = std::min(hs.limit.burst, hs.tokens + dt * rate);
          hs.refilled = now;
          if (hs.tokens < 1.0) {
            auto need = std::chrono::duration<double>((1.0 - hs.tokens) / rate);
            wake_at = std::min(wake_at, now + std::chrono::duration_cast<clock::duration>(need));
            break;
          }
          hs.tokens -= 1.0;
        }
        handle h = std::move(hs.queue.front());
        hs.queue.pop_front();
        if (h->cancelled.load()) {
          complete(h, nullptr, std::make_exception_ptr(cancelled()));
          continue;
        }
        start(h, hs);
      }
    }
    return static_cast<int>(std::clamp<long long>(
        std::chrono::duration_cast<std::chrono::milliseconds>(wake_at - now).count(), 0, 100));
  }

  void run() {
    // A write to a connection the peer closed must be an error, not a SIGPIPE that ends the
    // process: OpenSSL writes the native path's TLS connections with write(). (Python ignores
    // SIGPIPE already; a C++ program may not.) The signal stays pending on this thread, unseen.
    sigset_t pipe;
    sigemptyset(&pipe);
    sigaddset(&pipe, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &pipe, nullptr);
    std::vector<handle> fresh, cancel_now;
    while (true) {
      bool stop;
      {
        std::lock_guard<std::mutex> lock(mutex);
        fresh.swap(incoming);
        cancel_now.swap(cancels);
        stop = stopping;
      }
      if (stop) break;
      int timeout_ms = dispatch(fresh, cancel_now);  // (reads the clock into loop_now)
      int running = 0;
      curl_multi_perform(multi, &running);
      int left = 0;
      bool finished = false;
      while (CURLMsg* msg = curl_multi_info_read(multi, &left)) {
        if (msg->msg != CURLMSG_DONE) continue;
        finish(msg->easy_handle, msg->data.result);
        finished = true;
      }
      // Idle connections too: a PING to answer, a GOAWAY, or the server closing one.
      if (native && native->connections() > 0) {
        native->perform(native_fds, loop_now, native_done);
        native_fds.clear();
        for (auto& o : native_done) finished |= finish_native(o);
        native_done.clear();
      }
      if (loop_now >= stall_check) check_stalls();
      // Something finished: its slot may take the next request at once (as a bare loop re-adds a
      // handle), before anyone is woken or the loop sleeps.
      if (finished) {
        if (!to_notify.empty() && loop_now >= notify_due) notify_waiters();  // a long busy stretch
        continue;
      }
      // The loop is about to wait for the network: the moment to wake a waiter, whose work then
      // fills the wait instead of delaying the next requests (on a shared core, a waiter woken
      // earlier runs before the loop has sent them). While other transfers run, a ready result
      // waits up to notify_delay for the next ones, so that a waiter wakes once per burst; the
      // poll is shortened to match. (Waking after a count of results or bytes instead measured
      // worse: it wakes the waiter in the middle of the loop's work.)
      if (!to_notify.empty()) {
        if (in_flight == 0 || loop_now >= notify_due) {
          notify_waiters();
        } else {
          auto due = std::chrono::ceil<std::chrono::milliseconds>(notify_due - loop_now).count();
          timeout_ms = std::min(timeout_ms, static_cast<int>(std::max<long long>(1, due)));
        }
      }
      // Re-check the hand-over queues after announcing the sleep, so a submission that saw
      // polling == false cannot be missed.
      polling.store(true, std::memory_order_seq_cst);
      bool pending_work;
      {
        std::lock_guard<std::mutex> lock(mutex);
        pending_work = !incoming.empty() || !cancels.empty() || stopping;
      }
      if (!pending_work) {
        if (native && native->connections() > 0) {
          native_fds.clear();
          native->wait_fds(native_fds);
          timeout_ms = native->timeout_ms(loop_now, timeout_ms);
          curl_multi_poll(multi, native_fds.data(), static_cast<unsigned>(native_fds.size()), timeout_ms, nullptr);
        } else {
          curl_multi_poll(multi, nullptr, 0, timeout_ms, nullptr);
        }
      }
      polling.store(false, std::memory_order_release);
    }
    // Shutting down: everything still pending is cancelled.
    auto fail = [&](const handle& h) { complete(h, nullptr, std::make_exception_ptr(cancelled())); };
    for (auto& [key, hs] : hosts)
      for (auto& h : hs.queue) fail(h);
    for (auto& [t, h] : timers) fail(h);
    std::vector<handle> leftover;
    {
      std::lock_guard<std::mutex> lock(mutex);
      leftover.swap(incoming);
    }
    for (auto& h : fresh) fail(h);
    for (auto& h : leftover) fail(h);
    for (auto& s : slots) {
      if (!s->current) continue;
      handle h = s->current;
      curl_multi_remove_handle(multi, s->easy);
      release(*s);
      fail(h);
    }
    if (native) {
      native->abort_all(native_done);
      native_done.clear();
      for (auto& [t, h] : native_running) {
        h->native.keep_alive.reset();
        fail(h);
      }
      native_running.clear();
    }
    notify_waiters();
  }

  static std::size_t on_body(char* data, std::size_t size, std::size_t n, void* user) {
    auto* s = static_cast<easy_slot*>(user);
    std::size_t bytes = size * n;
    append_body(s->current->building.body, data, bytes);
    return bytes;
  }

  // libcurl's own low-speed check averages over several seconds, so a burst followed by silence
  // goes unnoticed for a while; this notices silence itself. Every 100 ms (the loop never sleeps
  // longer), each transfer's byte counts are compared with the last look: once its response has
  // begun, a transfer whose counts have not moved for low_speed_seconds is abandoned as stalled.
  // (A progress callback would do the same at the price of a call and a clock reading for every
  // transfer on every pass of libcurl.)
  void check_stalls() {
    stall_check = loop_now + std::chrono::milliseconds(100);
    const double limit = opts.low_speed_seconds;
    for (auto& slot : slots) {
      easy_slot* s = slot.get();
      if (!s->current) continue;
      pending& p = *s->current;
      curl_off_t down = 0, up = 0;
      curl_easy_getinfo(s->easy, CURLINFO_SIZE_DOWNLOAD_T, &down);
      curl_easy_getinfo(s->easy, CURLINFO_SIZE_UPLOAD_T, &up);
      if (down + up != p.progress_bytes) {
        p.progress_bytes = down + up;
        p.progress_at = loop_now;
      } else if (p.responding && limit > 0 && std::chrono::duration<double>(loop_now - p.progress_at).count() > limit) {
        p.stalled = true;
        finish(s->easy, CURLE_ABORTED_BY_CALLBACK);  // as if a progress callback had aborted it
      }
    }
  }

  static std::size_t on_header(char* data, std::size_t size, std::size_t n, void* user) {
    auto* s = static_cast<easy_slot*>(user);
    pending* p = s->current.get();
    std::size_t bytes = size * n;
    std::string_view line(data, bytes);
    if (line.size() >= 5 && line.compare(0, 5, "HTTP/") == 0) {
      p->header_count = 0;  // a new response (redirect, 100-continue) starts
      p->responding = true;
      p->progress_at = clock::now();
      return bytes;
    }
    std::size_t colon = line.find(':');
    if (colon == std::string_view::npos) return bytes;
    std::string_view value = line.substr(colon + 1);
    while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) value.remove_prefix(1);
    while (!value.empty() && (value.back() == '\r' || value.back() == '\n' || value.back() == ' ')) value.remove_suffix(1);
    store_header(p->building, p->header_count, line.substr(0, colon), value);
    return bytes;
  }

  easy_slot* acquire_slot() {
    if (!idle.empty()) {
      easy_slot* s = idle.back();
      idle.pop_back();
      return s;
    }
    auto s = std::make_unique<easy_slot>();
    s->shells = &shells;
    CURL* e = s->easy = curl_easy_init();
    curl_easy_setopt(e, CURLOPT_PRIVATE, s.get());
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_SHARE, share);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, &impl::on_body);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, s.get());
    curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, &impl::on_header);
    curl_easy_setopt(e, CURLOPT_HEADERDATA, s.get());
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, s->errbuf);
    // Decoding on; the Accept-Encoding line itself is in the header list.
    curl_easy_setopt(e, CURLOPT_ACCEPT_ENCODING, "");
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(opts.connect_timeout * 1000));
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, static_cast<long>(opts.timeout * 1000));
    // No CURLOPT_LOW_SPEED_*: libcurl's check also counts the wait for a response to begin (a slow
    // search, a long embeddings call), which only `timeout` bounds; check_stalls() watches bodies.
    curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 1L);
    curl_easy_setopt(e, CURLOPT_MAXREDIRS, 5L);
    curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
    if (opts.http2 || opts.http2_prior_knowledge) curl_easy_setopt(e, CURLOPT_UPLOAD_BUFFERSIZE, 2L * 1024 * 1024);
    curl_easy_setopt(e, CURLOPT_HTTP_VERSION, opts.http2_prior_knowledge ? CURL_HTTP_VERSION_2_PRIOR_KNOWLEDGE
                                              : opts.http2                ? CURL_HTTP_VERSION_2TLS
                                                                          : CURL_HTTP_VERSION_1_1);
    // libcurl before 8.0.0 fails every transfer after the first on an h2c prior-knowledge
    // connection ("Error in the HTTP2 framing layer": curl issue 10634, fixed by PR 10643), so
    // there each transfer gets a connection of its own.
    if (opts.http2_prior_knowledge && curl_version_info(CURLVERSION_NOW)->version_num < 0x080000) {
      curl_easy_setopt(e, CURLOPT_FRESH_CONNECT, 1L);
      curl_easy_setopt(e, CURLOPT_FORBID_REUSE, 1L);
    }
    // No CURLOPT_USERAGENT: libcurl would format its line again before every transfer. The line is
    // in the header list, and in the proxy's header list for CONNECT.
    curl_easy_setopt(e, CURLOPT_PROXYHEADER, &proxy_ua_node);
    curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, opts.verify_tls ? 1L : 0L);
    curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, opts.verify_tls ? 2L : 0L);
    if (!opts.ca_bundle.empty()) curl_easy_setopt(e, CURLOPT_CAINFO, opts.ca_bundle.c_str());
    if (!opts.proxy.empty()) curl_easy_setopt(e, CURLOPT_PROXY, opts.proxy.c_str());
    slots.push_back(std::move(s));
    return slots.back().get();
  }

  // The header list of a request: its own lines, then the client's (without a line the request
  // sets itself).
  curl_slist* header_list(pending& p, bool body) {
    const request& r = p.req;
    bool own_ua = has_header(r.headers, "user-agent");
    bool own_ae = has_header(r.headers, "accept-encoding") || ae_line.empty();
    curl_slist* shared = own_ua ? (own_ae ? (body ? &expect_node : nullptr) : &ae_node[body])
                                : (own_ae ? &ua_only_node[body] : &ua_node[body]);
    if (r.headers.empty()) return shared;
    if (p.header_nodes.empty()) {
      p.header_lines.reserve(r.headers.size());
      for (const auto& hd : r.headers) p.header_lines.push_back(hd.name + ": " + hd.value);
      p.header_nodes.resize(p.header_lines.size());
      for (std::size_t i = 0; i < p.header_lines.size(); ++i)
        p.header_nodes[i] = {p.header_lines[i].data(), i + 1 < p.header_lines.size() ? &p.header_nodes[i + 1] : shared};
    }
    return &p.header_nodes.front();
  }

  void start(const handle& h, host_state& hs) {
    if (native && h->req.grpc && native->accepts(h->req.url)) {
      start_native(h, hs);
      return;
    }
    easy_slot* s = acquire_slot();
    CURL* e = s->easy;
    s->current = h;
    s->errbuf[0] = '\0';
    h->slot = s;
    begin_attempt(*h);
    const request& r = h->req;
    curl_easy_setopt(e, CURLOPT_URL, r.url.c_str());
    // The method: first undo what an earlier transfer of this handle set, then set this one's.
    if (s->post_fields) {
      curl_easy_setopt(e, CURLOPT_POSTFIELDS, static_cast<const char*>(nullptr));
      curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(-1));
      s->post_fields = false;
    }
    curl_easy_setopt(e, CURLOPT_HTTPGET, 1L);  // GET, no upload, no NOBODY
    const char* custom = nullptr;
    if (r.method == "GET" && r.body.empty()) {
    } else if (r.method == "HEAD") {
      curl_easy_setopt(e, CURLOPT_NOBODY, 1L);
    } else if (r.body.empty() && r.method != "POST" && r.method != "PUT" && r.method != "PATCH") {
      custom = r.method.c_str();  // DELETE and friends: no body
    } else {
      custom = r.method.c_str();
      curl_easy_setopt(e, CURLOPT_POSTFIELDS, r.body.data());
      curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(r.body.size()));
      s->post_fields = true;
    }
    if (custom || s->custom_method) curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, custom);
    s->custom_method = custom != nullptr;
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, header_list(*h, s->post_fields));
    curl_multi_add_handle(multi, e);
    count_started(hs);
  }

  // What every attempt starts with, on either path: a fresh response to build (recycled memory
  // when there is some), no stall, and one more attempt.
  void begin_attempt(pending& p) {
    p.building = shells.take();
    p.building.body.clear();
    p.header_count = 0;
    p.stalled = false;
    p.responding = false;
    p.progress_bytes = -1;
    p.progress_at = loop_now;
    ++p.attempts;
  }

  void count_started(host_state& hs) {
    ++hs.in_flight;
    ++in_flight;
    stats.attempts.fetch_add(1, std::memory_order_relaxed);
    if (in_flight > stats.max_in_flight.load(std::memory_order_relaxed))
      stats.max_in_flight.store(in_flight, std::memory_order_relaxed);
  }

  // Ends a slot's transfer (after curl_multi_remove_handle): the handle goes back to the idle ones.
  void release(easy_slot& s) {
    if (s.current) s.current->slot = nullptr;
    s.current.reset();
    idle.push_back(&s);
  }

  void start_native(const handle& h, host_state& hs) {
    begin_attempt(*h);
    h->native.p = h.get();
    h->native.req = &h->req;
    h->native.keep_alive = h;  // for writes still queued after the call ends; reset then
    h->on_native = true;
    native_running.emplace(&h->native, h);
    count_started(hs);
    native->start(h->native, loop_now);
  }

  // A call on the native path ended; false when it was no longer running (cancelled meanwhile).
  bool finish_native(h2::outcome& o) {
    auto it = native_running.find(o.t);
    if (it == native_running.end()) return false;
    handle h = std::move(it->second);
    native_running.erase(it);
    h->on_native = false;
    h->native.keep_alive.reset();
    conclude(h, o.code, o.status, std::move(o.reason), o.refused);
    return true;
  }

  void abandon(const handle& h) {
    for (auto& [key, hs] : hosts) {
      auto it = std::find(hs.queue.begin(), hs.queue.end(), h);
      if (it != hs.queue.end()) {
        hs.queue.erase(it);
        complete(h, nullptr, std::make_exception_ptr(cancelled()));
        return;
      }
    }
    for (auto it = timers.begin(); it != timers.end(); ++it) {
      if (it->second == h) {
        timers.erase(it);
        complete(h, nullptr, std::make_exception_ptr(cancelled()));
        return;
      }
    }
    if (h->on_native) {
      native->cancel(h->native);
      native_running.erase(&h->native);
      h->on_native = false;
      h->native.keep_alive.reset();
      auto& hs = host(h->host);
      --hs.in_flight;
      --in_flight;
      complete(h, nullptr, std::make_exception_ptr(cancelled()));
      return;
    }
    if (easy_slot* s = h->slot) {
      curl_multi_remove_handle(multi, s->easy);
      auto& hs = host(h->host);
      --hs.in_flight;
      --in_flight;
      release(*s);
      complete(h, nullptr, std::make_exception_ptr(cancelled()));
    }
  }

  double backoff(int attempt) {
    double cap = std::min(opts.retry.max_delay, opts.retry.base_delay * std::pow(2.0, attempt - 1));
    std::uniform_real_distribution<double> d(0.0, std::max(cap, 0.0));
    return d(rng);
  }

  void finish(CURL* e, CURLcode rc) {
    easy_slot* s = nullptr;
    curl_easy_getinfo(e, CURLINFO_PRIVATE, reinterpret_cast<char**>(&s));
    curl_multi_remove_handle(multi, e);
    if (!s || !s->current) return;
    handle h = s->current;
    long status = 0;
    curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status);
    std::string curl_reason;
    if (rc != CURLE_OK) curl_reason = s->errbuf[0] ? std::string(s->errbuf) : curl_easy_strerror(rc);
    if (rc == CURLE_ABORTED_BY_CALLBACK && h->stalled) {
      rc = CURLE_OPERATION_TIMEDOUT;  // a stalled transfer is a timeout: retryable
      curl_reason = fmt::format("no data for {:.0f} s: the transfer stalled", opts.low_speed_seconds);
    }
    release(*s);
    conclude(h, rc, status, std::move(curl_reason));
  }

  // How a transfer ended, from either path (libcurl's, or the native HTTP/2 one): rc as libcurl
  // gives it, the response status, and why when rc is not CURLE_OK. Decides success, a retry, or
  // the error the waiter gets.
  // `refused`: the server refused the HTTP/2 stream before processing it (h2::outcome::refused).
  void conclude(const handle& h, CURLcode rc, long status, std::string curl_reason, bool refused = false) {
    auto& hs = host(h->host);
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
    if (h->cancelled.load()) {
      shells.give(std::move(r));
      complete(h, nullptr, std::make_exception_ptr(cancelled()));
      return;
    }

    bool ok = false, retry = false, rate_limited = false;
    int grpc_code = -1;  // of a gRPC call that answered with a status other than OK
    std::string why;
    if (rc != CURLE_OK) {
      retry = retryable_curl(rc);
      why = curl_reason;
    } else if (status >= 200 && status < 400) {
      if (h->req.grpc) {
        // The status is in the trailers (libcurl hands them to the header callback after the
        // body) or in the headers of a trailers-only response: the last grpc-status wins.
        const std::string* gs = r.find("grpc-status");
        int code = 2;  // UNKNOWN: no status at all (not a gRPC server, or HTTP/1.1 in between)
        if (gs) std::from_chars(gs->data(), gs->data() + gs->size(), code);
        if (gs && code == 0) {
          ok = true;
        } else {
          grpc_code = code;
          retry = grpc::status_retryable(code);
          rate_limited = code == 8;  // RESOURCE_EXHAUSTED: Pinecone's rate limit
          if (!gs) why = "the response has no grpc-status";
        }
      } else if (slack_ratelimited(r.body)) {
        // Slack reports rate limiting in the body of some responses.
        retry = rate_limited = true;
        why = "ratelimited";
      } else {
        ok = true;
      }
    } else if (status == 429) {
      if (contains(r.body, "insufficient_quota")) {
        why = "insufficient_quota: the account is out of credit";
      } else {
        retry = rate_limited = true;
      }
    } else if (status == 403) {
      if (header_is(r, "x-ratelimit-remaining", "0") || r.find("retry-after")) retry = rate_limited = true;
    } else if (status == 408 || status == 500 || status == 502 || status == 503 || status == 504) {
      retry = true;
    }

    // The server's advice matters for a retry, a rate limit, or a success that spent the budget.
    std::optional<double> advised;
    if (rc == CURLE_OK && (!ok || r.find("x-ratelimit-remaining")))
      advised = server_retry_delay(r, std::chrono::system_clock::now());
    adapt(hs, r, ok, rate_limited, advised, now);

    const std::string& method = h->req.method;
    if (ok) {
      logger()->trace("http: {} {} -> {} in {:.0f} ms (attempt {})", method, r.url, status, r.seconds * 1000,
                      h->attempts);
      complete(h, &r, nullptr);
      return;
    }
    double elapsed = std::chrono::duration<double>(now - h->submitted).count();
    // A refused stream reached no application, so it is sent again at once and is not an attempt,
    // as gRPC clients treat it; a server that refuses everything still ends in an error, after
    // max_refusals more tries.
    constexpr int max_refusals = 16;
    if (refused && retry && h->refusals < max_refusals && elapsed <= opts.retry.max_elapsed) {
      ++h->refusals;
      --h->attempts;
      logger()->debug("http: {} {} -> {}; sent again", method, r.url, curl_reason);
      stats.retries.fetch_add(1, std::memory_order_relaxed);
      shells.give(std::move(r));
      timers.emplace(now, h);
      return;
    }
    if (retry && h->attempts < opts.retry.max_attempts) {
      double delay = advised ? *advised : backoff(h->attempts);
      if (elapsed + delay <= opts.retry.max_elapsed) {
        logger()->debug("http: {} {} -> {}; retry {} of {} in {:.2f} s", method, r.url,
                        grpc_code >= 0 ? "gRPC " + grpc::status_name(grpc_code)
                        : status       ? std::to_string(status)
                                       : curl_reason,
                        h->attempts, opts.retry.max_attempts - 1,
                        delay);
        stats.retries.fetch_add(1, std::memory_order_relaxed);
        shells.give(std::move(r));
        timers.emplace(now + std::chrono::duration_cast<clock::duration>(std::chrono::duration<double>(delay)), h);
        return;
      }
      why += (why.empty() ? "" : "; ") +
             fmt::format("the next retry (in {:.0f} s) would pass the {:.0f} s retry budget", delay,
                         opts.retry.max_elapsed);
    }
    stats.failures.fetch_add(1, std::memory_order_relaxed);
    std::string body = excerpt(scrub(r.body));
    std::string rid = r.request_id();
    std::string message;
    std::string attempts = fmt::format("{} attempt{}", h->attempts, h->attempts == 1 ? "" : "s");
    if (rc != CURLE_OK) {
      message = fmt::format("{} {} failed: {} ({})", method, r.url, scrub(curl_reason), attempts);
    } else if (grpc_code >= 0) {
      const std::string* gm = r.find("grpc-message");
      std::string text = gm ? excerpt(scrub(grpc::percent_decode(*gm))) : std::string();
      for (char& ch : text)
        if (ch == '\n' || ch == '\r' || ch == '\t') ch = ' ';
      message = fmt::format("{} {} -> gRPC {} ({}) ({}{}){}{}", method, r.url, grpc::status_name(grpc_code), grpc_code,
                            rid.empty() ? "" : "request id " + rid + "; ", attempts, text.empty() ? "" : ": ", text);
      if (!why.empty()) message += " [" + why + "]";
      body = text;
    } else {
      std::string reason = status_reason(status);
      std::string one_line;  // whitespace runs folded, so the message stays one line
      for (char ch : body) {
        bool space = ch == ' ' || ch == '\n' || ch == '\r' || ch == '\t';
        if (space && (one_line.empty() || one_line.back() == ' ')) continue;
        one_line.push_back(space ? ' ' : ch);
      }
      while (!one_line.empty() && one_line.back() == ' ') one_line.pop_back();
      message = fmt::format("{} {} -> {}{}{} ({}{}){}{}", method, r.url, status, reason.empty() ? "" : " ", reason,
                            rid.empty() ? "" : "request id " + rid + "; ", attempts,
                            one_line.empty() ? "" : ": ", one_line);
      if (!why.empty() && why != "ratelimited") message += " [" + why + "]";
    }
    logger()->debug("http: {}", message);
    auto error =
        std::make_exception_ptr(http_error(message, r.status, method, r.url, rid, body, h->attempts, retry, grpc_code));
    shells.give(std::move(r));
    complete(h, nullptr, std::move(error));
  }

  // Slows a host down on rate-limit signals and lets it recover gradually on success.
  void adapt(host_state& hs, const response& r, bool ok, bool rate_limited, std::optional<double> advised,
             clock::time_point now) {
    if (rate_limited) {
      hs.rate_factor = std::max(0.05, hs.rate_factor * 0.5);
      hs.window = std::max(1.0, hs.window / 2);
      if (advised) {
        auto until = now + std::chrono::duration_cast<clock::duration>(std::chrono::duration<double>(*advised));
        hs.paused_until = std::max(hs.paused_until, until);
      }
      return;
    }
    if (!ok) return;
    const std::string* remaining = r.find("x-ratelimit-remaining");
    const std::string* limit = r.find("x-ratelimit-limit");
    bool near = header_is(r, "x-ratelimit-nearlimit", "true");
    if (remaining && limit) {
      double rem = std::atof(remaining->c_str()), lim = std::atof(limit->c_str());
      if (lim > 0 && rem / lim < 0.1) near = true;
      if (rem == 0 && advised) {
        auto until = now + std::chrono::duration_cast<clock::duration>(std::chrono::duration<double>(*advised));
        hs.paused_until = std::max(hs.paused_until, until);
      }
    }
    if (near) {
      hs.rate_factor = std::max(0.05, hs.rate_factor * 0.8);
      hs.window = std::max(1.0, hs.window * 0.8);
    } else {
      hs.rate_factor = std::min(1.0, hs.rate_factor + 0.05);
      hs.window = std::min<double>(hs.limit.max_in_flight, hs.window + 0.25);
    }
  }
};

client::client(client_options options) : impl_(std::make_unique<impl>(std::move(options))) {}

client::~client() = default;

client::handle client::submit(request r) {
  auto h = std::make_shared<pending>();
  h->host = host_key_of(r.url);
  h->req = std::move(r);
  h->submitted = clock::now();
  impl_->stats.requests.fetch_add(1, std::memory_order_relaxed);
  {
    std::lock_guard<std::mutex> lock(impl_->mutex);
    impl_->incoming.push_back(h);
  }
  impl_->wake();
  return h;
}

void client::await(const handle& h, run_context* ctx) {
  std::unique_lock<std::mutex> lock(h->mutex);
  while (!h->done) {
    ++h->waiters;
    h->cv.wait_for(lock, std::chrono::milliseconds(50));
    --h->waiters;
    if (ctx && !h->done) {
      lock.unlock();
      try {
        ctx->checkpoint();
      } catch (...) {
        cancel(h);
        throw;
      }
      lock.lock();
    }
  }
}

response client::wait(const handle& h, run_context* ctx) {
  await(h, ctx);
  std::lock_guard<std::mutex> lock(h->mutex);
  if (h->error) std::rethrow_exception(h->error);
  return std::move(h->result);
}

void client::cancel(const handle& h) {
  h->cancelled.store(true);
  {
    std::lock_guard<std::mutex> lock(impl_->mutex);
    impl_->cancels.push_back(h);
  }
  impl_->wake();
}

client_stats client::stats() const {
  const auto& c = impl_->stats;
  client_stats s;
  s.requests = c.requests.load(std::memory_order_relaxed);
  s.attempts = c.attempts.load(std::memory_order_relaxed);
  s.retries = c.retries.load(std::memory_order_relaxed);
  s.failures = c.failures.load(std::memory_order_relaxed);
  s.bytes_received = c.bytes_received.load(std::memory_order_relaxed);
  s.max_in_flight = c.max_in_flight.load(std::memory_order_relaxed);
  return s;
}

void client::recycle(response&& r) { impl_->shells.give(std::move(r)); }

std::string client::take_body(const handle& h) {
  std::lock_guard<std::mutex> lock(h->mutex);
  // After done, the loop only lets go of its references (a native write still queued holds one,
  // as does a waiter's notification); the caller's is the last when the count is 1.
  if (!h->done || h.use_count() > 1) return {};
  return std::move(h->req.body);
}

const client_options& client::options() const noexcept { return impl_->opts; }

std::string client::scrub(std::string_view text) const { return impl_->scrub(text); }

}  // namespace backfill::http
