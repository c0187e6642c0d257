// The public client (client.hpp): submitting, waiting, cancelling, recycling, statistics. The work
// itself happens on the engine's loop thread (engine.hpp).
#include "backfill/http/client.hpp"

#include "http/engine.hpp"

namespace backfill::http {

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

std::string client::scrub(std::string_view text) const { return impl_->scrub_secrets(text); }

}  // namespace backfill::http
