#include "backfill/ingest/stages.hpp"

#include <algorithm>
#include <chrono>

#include "backfill/core/failpoint.hpp"
#include "backfill/ingest/embed_plan.hpp"

namespace backfill {

namespace {

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

}  // namespace

ingest_stages::ingest_stages(embedder& emb, batch_writer& writer, ledger& book, stage_options options)
    : emb_(emb),
      emb_id_(emb.identity()),
      writer_(writer),
      book_(book),
      overlap_(options.overlap),
      budget_(options.budget),
      dimension_(options.dimension) {
  const std::size_t workers = std::clamp<std::size_t>(options.embed_workers, 1, 64);
  max_alive_ = options.batches_in_flight ? options.batches_in_flight : workers + 2;
  if (!overlap_) return;
  // Every thread that writes gets its own connection; WAL lets them interleave safely.
  cache_ledger_ = std::make_unique<ledger>(options.ledger_path);
  writer_ledger_ = std::make_unique<ledger>(options.ledger_path);
  // A stage that fails marks the stages failed (so the others and the calling thread stop waiting)
  // and leaves its error with the group, which stop_and_join() raises.
  auto guarded = [this](void (ingest_stages::*loop)()) {
    return [this, loop] {
      try {
        (this->*loop)();
      } catch (...) {
        fail();
        throw;
      }
    };
  };
  for (std::size_t i = 0; i < workers; ++i) threads_.spawn(guarded(&ingest_stages::embed_loop));
  threads_.spawn(guarded(&ingest_stages::write_loop));
}

ingest_stages::~ingest_stages() { abandon(); }

void ingest_stages::fail() noexcept {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    failed_ = true;
  }
  work_.notify_all();
  done_.notify_all();
}

void ingest_stages::submit(std::shared_ptr<batch> b, std::vector<embed_job> jobs, bool drain,
                           run_context& ctx) {
  if (!overlap_) {
    if (budget_) b->held = budget_->take(b->bytes(dimension_), ctx);
    auto start = std::chrono::steady_clock::now();
    for (auto& job : jobs) chunks_embedded_ += static_cast<std::int64_t>(embed(job, &ctx));
    seconds_.embed += seconds_since(start);
    if (!jobs.empty()) failpoint("ingest.batch_embedded");
    start = std::chrono::steady_clock::now();
    writer_.write(*b, book_);
    seconds_.write += seconds_since(start);
    ctx.checkpoint();
    return;
  }
  const std::size_t bytes = budget_ ? b->bytes(dimension_) : 0;
  bool admitted = false;  // the predicate runs more than once: it takes the bytes only once
  wait_until(ctx, [&] {
    if (admitted) return true;
    if (drain ? alive_ != 0 : alive_ >= max_alive_) return false;
    if (budget_) {
      auto lease = budget_->try_take(bytes);  // given back by the writer, which then wakes this thread
      if (!lease) return false;
      b->held = std::move(*lease);
    }
    return admitted = true;
  });
  {
    std::lock_guard<std::mutex> lock(mutex_);
    b->jobs_pending = jobs.size();
    for (auto& job : jobs) jobs_.push_back(std::move(job));
    writes_.push_back(std::move(b));
    ++alive_;
  }
  work_.notify_all();
}

void ingest_stages::finish(run_context& ctx) {
  if (!overlap_) return;
  wait_until(ctx, [&] { return alive_ == 0; });
  stop_and_join();
}

void ingest_stages::abandon() noexcept {
  try {
    stop_and_join();
  } catch (...) {  // the calling thread's own error is the one that propagates
  }
}

ingest_stages::busy_seconds ingest_stages::seconds() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return seconds_;
}

template <typename Pred>
void ingest_stages::wait_until(run_context& ctx, Pred ready) {
  const auto start = std::chrono::steady_clock::now();
  struct held_time {  // counted however the wait ends
    ingest_stages& self;
    std::chrono::steady_clock::time_point start;
    ~held_time() {
      std::lock_guard<std::mutex> lock(self.mutex_);
      self.seconds_.held += seconds_since(start);
    }
  } held{*this, start};
  for (;;) {
    {
      std::unique_lock<std::mutex> lock(mutex_);
      done_.wait_for(lock, std::chrono::milliseconds(50), [&] { return failed_ || ready(); });
      if (failed_) break;
      if (ready()) return;
    }
    ctx.checkpoint();
  }
  stop_and_join();
}

void ingest_stages::stop_and_join() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
  }
  work_.notify_all();
  done_.notify_all();
  threads_.wait();
}

std::size_t ingest_stages::embed(embed_job& job, run_context* ctx) {
  return run_embed_job(
      emb_, emb_id_, job,
      [this](const std::vector<std::pair<std::string, std::vector<float>>>& fresh) {
        if (!overlap_) return book_.store_embeddings(emb_id_, fresh);
        std::lock_guard<std::mutex> lock(cache_mutex_);
        cache_ledger_->store_embeddings(emb_id_, fresh);
      },
      ctx);
}

void ingest_stages::embed_loop() {
  // Long waits inside the embedder (retries, rate limits) end when the stages stop.
  run_context stop_ctx(
      [this](const progress&) {
        std::lock_guard<std::mutex> lock(mutex_);
        return stopping_ || failed_;
      },
      std::chrono::milliseconds(100));
  for (;;) {
    embed_job job;
    {
      std::unique_lock<std::mutex> lock(mutex_);
      work_.wait(lock, [&] { return stopping_ || failed_ || !jobs_.empty(); });
      if (stopping_ || failed_) return;
      job = std::move(jobs_.front());
      jobs_.pop_front();
    }
    const auto start = std::chrono::steady_clock::now();
    std::size_t n = embed(job, &stop_ctx);
    const double took = seconds_since(start);
    bool last = false;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      chunks_embedded_ += static_cast<std::int64_t>(n);
      seconds_.embed += took;
      last = --job.owner->jobs_pending == 0;
    }
    if (last) failpoint("ingest.batch_embedded");
    work_.notify_all();  // the writer may be waiting for this batch
  }
}

void ingest_stages::write_loop() {
  for (;;) {
    std::shared_ptr<batch> b;
    {
      std::unique_lock<std::mutex> lock(mutex_);
      work_.wait(lock, [&] {
        return stopping_ || failed_ || (!writes_.empty() && writes_.front()->jobs_pending == 0);
      });
      if (failed_) return;
      if (writes_.empty() || writes_.front()->jobs_pending != 0) {
        if (stopping_) return;
        continue;
      }
      b = std::move(writes_.front());
      writes_.pop_front();
    }
    const auto start = std::chrono::steady_clock::now();
    writer_.write(*b, *writer_ledger_);
    const double took = seconds_since(start);
    b->held.release();
    {
      std::lock_guard<std::mutex> lock(mutex_);
      --alive_;
      seconds_.write += took;
    }
    done_.notify_all();
  }
}

}  // namespace backfill
