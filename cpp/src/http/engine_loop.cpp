// The engine's loop thread (engine.hpp): takes the hand-overs, starts what the limits allow, drives
// libcurl and the native HTTP/2 connections, wakes waiters, sleeps in one poll, and on shutdown
// fails everything still pending with cancelled.
#include <pthread.h>

#include <algorithm>
#include <csignal>

#include "backfill/core/log.hpp"
#include "http/engine.hpp"

namespace backfill::http {

namespace {

// How long a ready result may wait for company while other transfers still run (see run()).
constexpr auto notify_delay = std::chrono::milliseconds(1);

}  // namespace

client::impl::impl(client_options o)
    : opts(std::move(o)),
      scrub_secrets(opts.secrets),
      share(curl_share_init()),
      multi(curl_multi_init()),
      hosts(opts) {
  prepare_shared_headers();  // (sets the defaults of user_agent and ca_bundle)
  if (!opts.verify_tls) logger()->warn("http: TLS certificate verification is OFF for this client");
  curl_multi_setopt(multi.get(), CURLMOPT_PIPELINING, CURLPIPE_MULTIPLEX);
  curl_multi_setopt(multi.get(), CURLMOPT_MAX_TOTAL_CONNECTIONS, static_cast<long>(opts.max_total_in_flight));
  if (opts.native_http2) native = std::make_unique<h2::pool>(opts);
  curl_share_setopt(share.get(), CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS);
  curl_share_setopt(share.get(), CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION);
  loop = std::thread([this] { run(); });
}

client::impl::~impl() {
  {
    std::lock_guard<std::mutex> lock(mutex);
    stopping = true;
  }
  curl_multi_wakeup(multi.get());
  loop.join();
}

void client::impl::complete(const handle& h, response* r, std::exception_ptr err) {
  bool wake_waiter;
  {
    std::lock_guard<std::mutex> lock(h->mutex);
    if (r) h->result = std::move(*r);
    h->error = err;
    h->done = true;
    wake_waiter = h->waiters > 0;
  }
  // Only a thread blocked on this request needs a futex call, and it gets it from
  // notify_waiters(), when the loop is about to wait for the network (see run()).
  if (wake_waiter) {
    if (to_notify.empty()) notify_due = loop_now + notify_delay;
    to_notify.push_back(h);
  }
}

void client::impl::notify_waiters() {
  for (auto& h : to_notify) h->cv.notify_all();
  to_notify.clear();
}

void client::impl::wake() {
  if (polling.exchange(false, std::memory_order_acq_rel))
    curl_multi_wakeup(multi.get());  // one wake-up per sleep
}

int client::impl::dispatch(std::vector<handle>& fresh, std::vector<handle>& cancel_now) {
  for (auto& h : fresh) hosts[h->host].queue.push_back(std::move(h));
  fresh.clear();
  for (auto& h : cancel_now) abandon(h);
  cancel_now.clear();

  auto now = loop_now = clock::now();
  while (!timers.empty() && timers.begin()->first <= now) {
    handle h = timers.begin()->second;
    timers.erase(timers.begin());
    hosts[h->host].queue.push_front(std::move(h));  // a retry goes before newer work
  }
  auto wake_at = now + std::chrono::milliseconds(100);
  if (!timers.empty()) wake_at = std::min(wake_at, timers.begin()->first);
  for (auto& [key, hs] : hosts) {
    while (!hs.queue.empty()) {
      if (in_flight >= opts.max_total_in_flight) break;
      if (hs.queue.front()->cancelled.load()) {
        complete(hs.queue.front(), nullptr, std::make_exception_ptr(cancelled()));
        hs.queue.pop_front();
        continue;
      }
      if (!quota_ready(*hs.queue.front(), now, wake_at) || !hs.admit(now, wake_at)) break;
      handle h = std::move(hs.queue.front());
      hs.queue.pop_front();
      take_quota(*h, now);
      start(h, hs);
    }
  }
  // Rounded up: a wait shorter than a millisecond (a token bucket or a paced quota that fills again
  // in microseconds) is a poll of 1 ms, not of 0, which would spin the loop through dispatch, libcurl's
  // check of every running transfer and an empty poll until the time came (on the GitHub benchmark,
  // thousands of passes). A bucket refills by the time elapsed, so the rate is kept either way.
  return static_cast<int>(
      std::clamp<long long>(std::chrono::ceil<std::chrono::milliseconds>(wake_at - now).count(), 0, 100));
}

void client::impl::run() {
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
    curl_multi_perform(multi.get(), &running);
    int left = 0;
    bool finished = false;
    while (CURLMsg* msg = curl_multi_info_read(multi.get(), &left)) {
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
    if (!quota_readings.empty()) observe_quota_readings();
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
        curl_multi_poll(multi.get(), native_fds.data(), static_cast<unsigned>(native_fds.size()), timeout_ms,
                        nullptr);
      } else {
        curl_multi_poll(multi.get(), nullptr, 0, timeout_ms, nullptr);
      }
    }
    polling.store(false, std::memory_order_release);
  }
  shut_down(fresh);
}

// Everything still pending is cancelled: queued, waiting for a retry, handed over, or running.
void client::impl::shut_down(std::vector<handle>& fresh) {
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
    curl_multi_remove_handle(multi.get(), s->easy.get());
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

// A cancelled request leaves wherever it is: its host's queue, the retry timers, or its transfer.
void client::impl::abandon(const handle& h) {
  auto cancel = [&] { complete(h, nullptr, std::make_exception_ptr(cancelled())); };
  for (auto& [key, hs] : hosts) {
    auto it = std::find(hs.queue.begin(), hs.queue.end(), h);
    if (it != hs.queue.end()) {
      hs.queue.erase(it);
      cancel();
      return;
    }
  }
  for (auto it = timers.begin(); it != timers.end(); ++it) {
    if (it->second == h) {
      timers.erase(it);
      cancel();
      return;
    }
  }
  if (h->on_native) {
    native->cancel(h->native);
    native_running.erase(&h->native);
    h->on_native = false;
    h->native.keep_alive.reset();
  } else if (easy_slot* s = h->slot) {
    curl_multi_remove_handle(multi.get(), s->easy.get());
    release(*s);
  } else {
    return;
  }
  --hosts[h->host].in_flight;
  --in_flight;
  settle_quota(*h, nullptr);
  cancel();
}

}  // namespace backfill::http
