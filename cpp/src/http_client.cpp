// The HTTP client: one loop thread drives a libcurl multi handle; any thread submits requests and
// waits for them. The loop owns every transfer, retry timer and per-host limiter, so none of that
// state needs a lock; only the hand-over queues do.
#include <curl/curl.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <condition_variable>
#include <cstdlib>
#include <deque>
#include <mutex>
#include <random>
#include <thread>
#include <unordered_map>

#include <fmt/format.h>
#include <simdjson.h>

#include "backfill/http.hpp"
#include "backfill/log.hpp"

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

// Slack answers some rate-limited calls with {"ok": false, "error": "ratelimited"}, even with a 200.
bool slack_ratelimited(std::string_view body) {
  if (body.size() > 4096 || !contains(body, "ratelimited")) return false;
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

std::string host_key_of(std::string_view url) {
  std::size_t scheme = url.find("://");
  std::size_t start = scheme == std::string_view::npos ? 0 : scheme + 3;
  std::size_t end = url.find_first_of("/?#", start);
  std::string_view auth = url.substr(start, (end == std::string_view::npos ? url.size() : end) - start);
  std::size_t at = auth.rfind('@');
  if (at != std::string_view::npos) auth.remove_prefix(at + 1);
  std::string key;
  for (char c : auth) key.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
  return key;
}

std::string env_first(std::initializer_list<const char*> names) {
  for (const char* n : names)
    if (const char* v = std::getenv(n); v && *v) return v;
  return {};
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
  double stall_limit = 0;  // seconds without a byte in either direction before the transfer is abandoned
  bool stalled = false;
  bool responding = false;  // a response line arrived: from then on, silence is a stall
  curl_off_t progress_bytes = -1;
  clock::time_point progress_at{};
  CURL* easy = nullptr;
  curl_slist* header_list = nullptr;
  response building;
  char errbuf[CURL_ERROR_SIZE] = {};
};

struct client::impl {
  client_options opts;
  std::vector<std::string> secrets;
  CURLM* multi = nullptr;
  CURLSH* share = nullptr;
  std::thread loop;

  std::mutex mutex;  // guards incoming, cancels, stopping, stats
  std::deque<handle> incoming;
  std::vector<handle> cancels;
  bool stopping = false;
  client_stats stats;

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
  std::vector<CURL*> pool;
  int in_flight = 0;
  std::mt19937_64 rng{std::random_device{}()};

  explicit impl(client_options o) : opts(std::move(o)) {
    ensure_curl_global();
    secrets = opts.secrets;
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
    multi = curl_multi_init();
    curl_multi_setopt(multi, CURLMOPT_PIPELINING, CURLPIPE_MULTIPLEX);
    curl_multi_setopt(multi, CURLMOPT_MAX_TOTAL_CONNECTIONS, static_cast<long>(opts.max_total_in_flight));
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
    for (CURL* e : pool) curl_easy_cleanup(e);
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

  std::string scrub(std::string_view text) const { return scrub_text(text, secrets); }

  void complete(const handle& h, response* r, std::exception_ptr err) {
    bool wake;
    {
      std::lock_guard<std::mutex> lock(h->mutex);
      if (r) h->result = std::move(*r);
      h->error = err;
      h->done = true;
      wake = h->waiters > 0;
    }
    if (wake) h->cv.notify_all();  // a futex call only when someone is blocked on this request
  }

  // Set while the loop sleeps in curl_multi_poll: only then does a submission need to wake it.
  std::atomic<bool> polling{false};

  void wake() {
    if (polling.exchange(false, std::memory_order_acq_rel)) curl_multi_wakeup(multi);  // one wake-up per sleep
  }

  // -- the loop ---------------------------------------------------------------------------------

  void run() {
    while (true) {
      std::deque<handle> fresh;
      std::vector<handle> cancel_now;
      bool stop;
      {
        std::lock_guard<std::mutex> lock(mutex);
        fresh.swap(incoming);
        cancel_now.swap(cancels);
        stop = stopping;
      }
      if (stop) break;
      for (auto& h : fresh) host(h->host).queue.push_back(std::move(h));
      for (auto& h : cancel_now) abandon(h);

      auto now = clock::now();
      while (!timers.empty() && timers.begin()->first <= now) {
        handle h = timers.begin()->second;
        timers.erase(timers.begin());
        host(h->host).queue.push_front(std::move(h));  // a retry goes before newer work
      }
      auto wake = now + std::chrono::milliseconds(100);
      if (!timers.empty()) wake = std::min(wake, timers.begin()->first);
      for (auto& [key, hs] : hosts) {
        while (!hs.queue.empty()) {
          if (in_flight >= opts.max_total_in_flight) break;
          if (hs.in_flight >= std::max(1, static_cast<int>(hs.window))) break;
          if (now < hs.paused_until) {
            wake = std::min(wake, hs.paused_until);
            break;
          }
          if (hs.limit.rate > 0) {
            double rate = hs.limit.rate * hs.rate_factor;
            double dt = std::chrono::duration<double>(now - hs.refilled).count();
            hs.tokens = std::min(hs.limit.burst, hs.tokens + dt * rate);
            hs.refilled = now;
            if (hs.tokens < 1.0) {
              auto need = std::chrono::duration<double>((1.0 - hs.tokens) / rate);
              wake = std::min(wake, now + std::chrono::duration_cast<clock::duration>(need));
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
      int timeout_ms = static_cast<int>(std::clamp<long long>(
          std::chrono::duration_cast<std::chrono::milliseconds>(wake - clock::now()).count(), 0, 100));
      {
        // Re-check the hand-over queues after announcing the sleep, so a submission that saw
        // polling == false cannot be missed.
        polling.store(true, std::memory_order_seq_cst);
        bool pending_work;
        {
          std::lock_guard<std::mutex> lock(mutex);
          pending_work = !incoming.empty() || !cancels.empty() || stopping;
        }
        if (!pending_work) curl_multi_poll(multi, nullptr, 0, timeout_ms, nullptr);
        polling.store(false, std::memory_order_release);
      }
      int running = 0;
      curl_multi_perform(multi, &running);
      int left = 0;
      while (CURLMsg* msg = curl_multi_info_read(multi, &left)) {
        if (msg->msg != CURLMSG_DONE) continue;
        finish(msg->easy_handle, msg->data.result);
      }
    }
    // Shutting down: everything still pending is cancelled.
    auto fail = [&](const handle& h) { complete(h, nullptr, std::make_exception_ptr(cancelled())); };
    for (auto& [key, hs] : hosts)
      for (auto& h : hs.queue) fail(h);
    for (auto& [t, h] : timers) fail(h);
    std::deque<handle> leftover;
    {
      std::lock_guard<std::mutex> lock(mutex);
      leftover.swap(incoming);
    }
    for (auto& h : leftover) fail(h);
    for (auto& h : in_transfer) {
      curl_multi_remove_handle(multi, h->easy);
      release(*h);
      fail(h);
    }
    in_transfer.clear();
  }

  std::vector<handle> in_transfer;

  static std::size_t on_body(char* data, std::size_t size, std::size_t n, void* user) {
    auto* p = static_cast<pending*>(user);
    std::size_t bytes = size * n;
    std::string& body = p->building.body;
    if (body.capacity() < body.size() + bytes + simdjson::SIMDJSON_PADDING)
      body.reserve(std::max(body.capacity() * 2, body.size() + bytes + simdjson::SIMDJSON_PADDING));
    body.append(data, bytes);
    return bytes;
  }

  // libcurl's own low-speed check averages over several seconds, so a burst followed by silence goes
  // unnoticed for a while; this notices silence itself.
  static int on_progress(void* user, curl_off_t, curl_off_t dlnow, curl_off_t, curl_off_t ulnow) {
    auto* p = static_cast<pending*>(user);
    auto now = clock::now();
    curl_off_t bytes = dlnow + ulnow;
    if (bytes != p->progress_bytes) {
      p->progress_bytes = bytes;
      p->progress_at = now;
      return 0;
    }
    if (p->responding && p->stall_limit > 0 &&
        std::chrono::duration<double>(now - p->progress_at).count() > p->stall_limit) {
      p->stalled = true;
      return 1;  // abort: CURLE_ABORTED_BY_CALLBACK
    }
    return 0;
  }

  static std::size_t on_header(char* data, std::size_t size, std::size_t n, void* user) {
    auto* p = static_cast<pending*>(user);
    std::size_t bytes = size * n;
    std::string_view line(data, bytes);
    if (line.rfind("HTTP/", 0) == 0) {
      p->building.headers.clear();  // a new response (redirect, 100-continue) starts
      p->responding = true;
      p->progress_at = clock::now();
      return bytes;
    }
    std::size_t colon = line.find(':');
    if (colon == std::string_view::npos) return bytes;
    std::string name;
    for (char c : line.substr(0, colon)) name.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
    std::string_view value = line.substr(colon + 1);
    while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) value.remove_prefix(1);
    while (!value.empty() && (value.back() == '\r' || value.back() == '\n' || value.back() == ' ')) value.remove_suffix(1);
    if (name == "content-length") {
      std::size_t len = std::strtoull(std::string(value).c_str(), nullptr, 10);
      if (len > 0 && len < (std::size_t{1} << 31)) p->building.body.reserve(len + simdjson::SIMDJSON_PADDING);
    }
    p->building.headers.push_back({std::move(name), std::string(value)});
    return bytes;
  }

  void start(const handle& h, host_state& hs) {
    CURL* e;
    if (!pool.empty()) {
      e = pool.back();
      pool.pop_back();
      curl_easy_reset(e);
    } else {
      e = curl_easy_init();
    }
    h->easy = e;
    h->building = response{};
    h->errbuf[0] = '\0';
    h->stalled = false;
    h->responding = false;
    h->stall_limit = opts.low_speed_seconds;
    h->progress_bytes = -1;
    h->progress_at = clock::now();
    ++h->attempts;
    const request& r = h->req;
    curl_easy_setopt(e, CURLOPT_URL, r.url.c_str());
    curl_easy_setopt(e, CURLOPT_PRIVATE, h.get());
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_SHARE, share);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, &impl::on_body);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, h.get());
    curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, &impl::on_header);
    curl_easy_setopt(e, CURLOPT_HEADERDATA, h.get());
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, h->errbuf);
    curl_easy_setopt(e, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(e, CURLOPT_XFERINFOFUNCTION, &impl::on_progress);
    curl_easy_setopt(e, CURLOPT_XFERINFODATA, h.get());
    curl_easy_setopt(e, CURLOPT_ACCEPT_ENCODING, "");
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(opts.connect_timeout * 1000));
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, static_cast<long>(opts.timeout * 1000));
    curl_easy_setopt(e, CURLOPT_LOW_SPEED_LIMIT, 1L);
    curl_easy_setopt(e, CURLOPT_LOW_SPEED_TIME, std::max(1L, static_cast<long>(std::lround(opts.low_speed_seconds))));
    curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 1L);
    curl_easy_setopt(e, CURLOPT_MAXREDIRS, 5L);
    curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(e, CURLOPT_HTTP_VERSION, opts.http2 ? CURL_HTTP_VERSION_2TLS : CURL_HTTP_VERSION_1_1);
    curl_easy_setopt(e, CURLOPT_USERAGENT, opts.user_agent.c_str());
    curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, opts.verify_tls ? 1L : 0L);
    curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, opts.verify_tls ? 2L : 0L);
    if (!opts.ca_bundle.empty()) curl_easy_setopt(e, CURLOPT_CAINFO, opts.ca_bundle.c_str());
    if (!opts.proxy.empty()) curl_easy_setopt(e, CURLOPT_PROXY, opts.proxy.c_str());
    if (r.method == "GET" && r.body.empty()) {
      curl_easy_setopt(e, CURLOPT_HTTPGET, 1L);
    } else if (r.method == "HEAD") {
      curl_easy_setopt(e, CURLOPT_NOBODY, 1L);
    } else if (r.body.empty() && r.method != "POST" && r.method != "PUT" && r.method != "PATCH") {
      curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, r.method.c_str());  // DELETE and friends: no body
    } else {
      curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, r.method.c_str());
      curl_easy_setopt(e, CURLOPT_POSTFIELDS, r.body.data());
      curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(r.body.size()));
    }
    if (h->header_list) {
      curl_slist_free_all(h->header_list);
      h->header_list = nullptr;
    }
    for (const auto& hd : r.headers) {
      std::string line = hd.name + ": " + hd.value;
      h->header_list = curl_slist_append(h->header_list, line.c_str());
    }
    h->header_list = curl_slist_append(h->header_list, "Expect:");
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, h->header_list);
    curl_multi_add_handle(multi, e);
    in_transfer.push_back(h);
    ++hs.in_flight;
    ++in_flight;
    std::lock_guard<std::mutex> lock(mutex);
    ++stats.attempts;
    stats.max_in_flight = std::max(stats.max_in_flight, in_flight);
  }

  void release(pending& p) {
    if (p.easy) {
      pool.push_back(p.easy);
      p.easy = nullptr;
    }
    if (p.header_list) {
      curl_slist_free_all(p.header_list);
      p.header_list = nullptr;
    }
  }

  handle take_transfer(CURL* e) {
    for (auto it = in_transfer.begin(); it != in_transfer.end(); ++it) {
      if ((*it)->easy == e) {
        handle h = *it;
        *it = in_transfer.back();
        in_transfer.pop_back();
        return h;
      }
    }
    return nullptr;
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
    if (h->easy) {
      CURL* e = h->easy;
      take_transfer(e);
      curl_multi_remove_handle(multi, e);
      auto& hs = host(h->host);
      --hs.in_flight;
      --in_flight;
      release(*h);
      complete(h, nullptr, std::make_exception_ptr(cancelled()));
    }
  }

  double backoff(int attempt) {
    double cap = std::min(opts.retry.max_delay, opts.retry.base_delay * std::pow(2.0, attempt - 1));
    std::uniform_real_distribution<double> d(0.0, std::max(cap, 0.0));
    return d(rng);
  }

  void finish(CURL* e, CURLcode rc) {
    handle h = take_transfer(e);
    curl_multi_remove_handle(multi, e);
    if (!h) return;
    auto& hs = host(h->host);
    --hs.in_flight;
    --in_flight;
    response r = std::move(h->building);
    long status = 0;
    curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status);
    r.status = rc == CURLE_OK ? status : 0;
    r.attempts = h->attempts;
    r.url = scrub(scrub_url(h->req.url));
    std::string curl_reason = rc == CURLE_OK ? "" : (h->errbuf[0] ? std::string(h->errbuf) : curl_easy_strerror(rc));
    if (rc == CURLE_ABORTED_BY_CALLBACK && h->stalled) {
      rc = CURLE_OPERATION_TIMEDOUT;  // a stalled transfer is a timeout: retryable
      curl_reason = fmt::format("no data for {:.0f} s: the transfer stalled", opts.low_speed_seconds);
    }
    release(*h);
    auto now = clock::now();
    r.seconds = std::chrono::duration<double>(now - h->submitted).count();
    {
      std::lock_guard<std::mutex> lock(mutex);
      stats.bytes_received += static_cast<std::int64_t>(r.body.size());
    }
    if (h->cancelled.load()) {
      complete(h, nullptr, std::make_exception_ptr(cancelled()));
      return;
    }

    bool ok = false, retry = false, rate_limited = false;
    std::string why;
    if (rc != CURLE_OK) {
      retry = retryable_curl(rc);
      why = curl_reason;
    } else if (status >= 200 && status < 400) {
      // Slack reports rate limiting in the body of some responses.
      if (slack_ratelimited(r.body)) {
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

    auto wall = std::chrono::system_clock::now();
    std::optional<double> advised = (rc == CURLE_OK) ? server_retry_delay(r, wall) : std::nullopt;
    adapt(hs, r, ok, rate_limited, advised, now);

    const std::string method = h->req.method;
    if (ok) {
      logger()->trace("http: {} {} -> {} in {:.0f} ms (attempt {})", method, r.url, status, r.seconds * 1000,
                      h->attempts);
      complete(h, &r, nullptr);
      return;
    }
    double elapsed = std::chrono::duration<double>(now - h->submitted).count();
    if (retry && h->attempts < opts.retry.max_attempts) {
      double delay = advised ? *advised : backoff(h->attempts);
      if (elapsed + delay <= opts.retry.max_elapsed) {
        logger()->debug("http: {} {} -> {}; retry {} of {} in {:.2f} s", method, r.url,
                        status ? std::to_string(status) : curl_reason, h->attempts, opts.retry.max_attempts - 1,
                        delay);
        {
          std::lock_guard<std::mutex> lock(mutex);
          ++stats.retries;
        }
        timers.emplace(now + std::chrono::duration_cast<clock::duration>(std::chrono::duration<double>(delay)), h);
        return;
      }
      why += (why.empty() ? "" : "; ") +
             fmt::format("the next retry (in {:.0f} s) would pass the {:.0f} s retry budget", delay,
                         opts.retry.max_elapsed);
    }
    {
      std::lock_guard<std::mutex> lock(mutex);
      ++stats.failures;
    }
    std::string body = excerpt(scrub(r.body));
    std::string rid = r.request_id();
    std::string message;
    std::string attempts = fmt::format("{} attempt{}", h->attempts, h->attempts == 1 ? "" : "s");
    if (rc != CURLE_OK) {
      message = fmt::format("{} {} failed: {} ({})", method, r.url, scrub(curl_reason), attempts);
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
    complete(h, nullptr,
             std::make_exception_ptr(http_error(message, r.status, method, r.url, rid, body, h->attempts, retry)));
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
  {
    std::lock_guard<std::mutex> lock(impl_->mutex);
    ++impl_->stats.requests;
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
  std::lock_guard<std::mutex> lock(impl_->mutex);
  return impl_->stats;
}

const client_options& client::options() const noexcept { return impl_->opts; }

std::string client::scrub(std::string_view text) const { return impl_->scrub(text); }

}  // namespace backfill::http
