// The client's engine, private to cpp/src/http: one loop thread drives a libcurl multi handle (and
// the native HTTP/2 connections, h2/); any thread submits requests and waits for them. The loop
// owns every transfer, retry timer and per-host limiter, so none of that state needs a lock; only
// the hand-over queues do.
//
// Where each part lives:
//   engine_loop.cpp     the loop thread: hand-overs, dispatch under the limits, sleeping, shutdown
//   curl_transfer.cpp   a transfer on a libcurl easy handle: options, header lists, callbacks, stalls
//   native_transfer.cpp a gRPC call on the engine's own HTTP/2 connections (h2/)
//   attempt.cpp         one attempt's start and end: retry with backoff, or complete
//   redirect.cpp        following a 3xx, where a client allows it, without credentials across hosts
//   retry_rules.cpp     what an attempt's end means; failure_message.cpp the error it becomes
//   host_limiter.cpp    per-host token bucket, in-flight cap and pauses
//   response_pool.cpp   recycled responses
//   client.cpp          the public client: submit, wait, cancel, stats
//
// The per-request path is kept short, because a bare libcurl loop is the yardstick
// (bench/http_bench.py): easy handles are configured once and keep their options between
// transfers (only the URL, the method and the header list change); the User-Agent and
// Accept-Encoding lines ride in a prebuilt header list, so libcurl does not format them again for
// every transfer; responses handed back with recycle() lend their memory (body, header strings,
// URL) to later ones, so a steady stream of responses allocates nothing for them; waiters are
// woken in one go when the loop is about to sleep, not once per response.
#pragma once

#include <curl/curl.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <exception>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "backfill/http/client.hpp"
#include "backfill/http/notice_gate.hpp"
#include "backfill/http/scrub.hpp"
#include "http/h2/connection.hpp"
#include "http/handles.hpp"
#include "http/host_limiter.hpp"
#include "http/outcome.hpp"
#include "http/response_pool.hpp"

namespace backfill::http {

struct easy_slot;

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
  int refusals = 0;   // streams the server refused unprocessed, sent again without counting an attempt
  int redirects = 0;  // followed so far (client_options::max_redirects)
  bool stalled = false;
  bool responding = false;  // a response line arrived: from then on, silence is a stall
  curl_off_t progress_bytes = -1;
  clock::time_point progress_at{};
  easy_slot* slot = nullptr;     // while a transfer runs
  std::size_t header_count = 0;  // of building.headers, which may hold more (recycled) strings
  // The request's own header lines, linked in front of the client's shared ones (built once, kept
  // for the retries).
  std::vector<std::string> header_lines;
  std::vector<curl_slist> header_nodes;
  response building;

  // The request on the engine's own HTTP/2 connections (gRPC calls; see h2/connection.hpp).
  struct native_transfer final : h2::transfer {
    pending* p = nullptr;
    response_pool* pool = nullptr;  // its client's
    void on_response_begin(long) override {
      p->header_count = 0;
      p->responding = true;
    }
    void on_header(std::string_view name, std::string_view value) override {
      store_header(*pool, p->building, p->header_count, name, value);
    }
    void on_data(const char* data, std::size_t n) override { append_body(*pool, p->building, data, n); }
  };
  native_transfer native;
  bool on_native = false;                 // running there now
  std::optional<quota_cost> quota_taken;  // taken from the client's quota, not yet settled
};

// An easy handle with the options every transfer of the client shares, set once. Between
// transfers it keeps them: only what a request changes is set again.
struct easy_slot {
  easy_handle easy;
  client::handle current;         // the request it is transferring, if any
  response_pool* pool = nullptr;  // its client's, for the room of the body it receives
  bool custom_method = false;     // CURLOPT_CUSTOMREQUEST is set
  bool post_fields = false;       // CURLOPT_POSTFIELDS is set
  char errbuf[CURL_ERROR_SIZE] = {};
};

struct client::impl {
  using handle = client::handle;

  struct libcurl_ready {
    libcurl_ready();  // curl_global_init(), once per process, before any handle is made
  } libcurl;
  client_options opts;
  scrubber scrub_secrets;
  // Declared before the easy handles (slots): members are destroyed in reverse, and libcurl wants
  // the easy handles gone before the multi handle, and both before the share.
  share_handle share;
  multi_handle multi;
  std::thread loop;

  std::mutex mutex;  // guards incoming, cancels, stopping
  std::vector<handle> incoming;
  std::vector<handle> cancels;
  bool stopping = false;
  std::atomic<bool> polling{false};  // the loop sleeps in curl_multi_poll: a submission must wake it

  struct counters {
    std::atomic<std::int64_t> requests{0}, attempts{0}, retries{0}, failures{0}, bytes_received{0};
    std::atomic<int> max_in_flight{0};
  } stats;

  host_limiter hosts;
  // quota_pacing.cpp: requests held back for the client's quota (client_options::quota)
  struct quota_hold {
    clock::time_point since{};  // the queue's head has waited since (zero: it does not wait)
    std::string bucket;         // for the bucket that held it
  } quota_held;
  bool quota_ready(const pending& p, clock::time_point now, clock::time_point& wake_at);
  void take_quota(pending& p, clock::time_point now);
  void settle_quota(pending& p, const response* r);
  // The readings of the answers settled in this pass of the loop, observed once all are settled
  // (observe_quota_readings): a reading counts every request the server answered, so it must not
  // meet one of them still open, which it would count a second time.
  std::vector<quota_observation> quota_readings;
  void observe_quota_readings();
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

  response_pool shells;  // responses handed back by recycle()

  // gRPC calls on the engine's own HTTP/2 connections (h2/connection.hpp), polled with libcurl's sockets.
  std::unique_ptr<h2::pool> native;
  std::unordered_map<const h2::transfer*, handle> native_running;
  std::vector<curl_waitfd> native_fds;  // what the last poll waited for, with what it found
  std::vector<h2::outcome> native_done;

  explicit impl(client_options o);  // starts the loop
  ~impl();                          // stops it: what is pending fails with cancelled

  // engine_loop.cpp
  void run();
  int dispatch(std::vector<handle>& fresh, std::vector<handle>& cancel_now);
  void shut_down(std::vector<handle>& fresh);
  void complete(const handle& h, response* r, std::exception_ptr err);
  void notify_waiters();
  void wake();
  void abandon(const handle& h);

  // curl_transfer.cpp
  void prepare_shared_headers();
  easy_slot* acquire_slot();
  curl_slist* header_list(pending& p, bool body);
  void start_curl(const handle& h, host_state& hs);
  void finish(CURL* e, CURLcode rc);
  void release(easy_slot& s);
  void check_stalls();
  static std::size_t on_body(char* data, std::size_t size, std::size_t n, void* user);
  static std::size_t on_header(char* data, std::size_t size, std::size_t n, void* user);

  // native_transfer.cpp
  void start_native(const handle& h, host_state& hs);
  bool finish_native(h2::outcome& o);

  // attempt.cpp
  void start(const handle& h, host_state& hs);
  void begin_attempt(pending& p);
  void count_started(host_state& hs);
  void conclude(const handle& h, CURLcode rc, long status, std::string curl_reason, bool refused = false);
  bool schedule_retry(const handle& h, response& r, decision& d, const std::string& curl_reason,
                      std::optional<double> advised, bool refused, clock::time_point now);
  double backoff(int attempt);

  // redirect.cpp
  bool follow_redirect(pending& p, const response& r, long status);

  // notices.cpp: what a person watching the run reads about retries and slow answers
  notice_gate notices;
  bool notice_due(clock::time_point now);
  std::string service(const pending& p) const;
  void notice_retry(const pending& p, const response& r, const decision& d, const std::string& curl_reason,
                    double delay, bool advised, clock::time_point now);
  void notice_slow(const pending& p, const response& r, clock::time_point now);
};

}  // namespace backfill::http
