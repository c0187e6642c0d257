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
  // The embedding cache saves a second payment after a crash, nothing more: its commits need not wait
  // for the disk. WAL keeps the file consistent; a power loss may drop the newest cached vectors (they
  // are embedded again), never a ledger row, whose connections keep synchronous=FULL.
  cache_ledger_->db().exec("PRAGMA synchronous=NORMAL");
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
    for (auto& job : jobs) {  // one call a job: a job is at most what one embedder call may take
      std::vector<embed_job> one;
      one.push_back(std::move(job));
      chunks_embedded_ += static_cast<std::int64_t>(embed(one, &ctx));
    }
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
    for (auto& job : jobs) {
      queued_texts_ += job.texts.size();
      jobs_.push_back(std::move(job));
    }
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
      self.caller_waiting_ = false;
    }
  } held{*this, start};
  {
    // Embed workers holding a part-filled request for more texts send it now.
    std::lock_guard<std::mutex> lock(mutex_);
    if (!failed_ && ready()) return;
    caller_waiting_ = true;
  }
  work_.notify_all();
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

std::size_t ingest_stages::embed(std::vector<embed_job>& jobs, run_context* ctx) {
  return run_embed_jobs(
      emb_, emb_id_, jobs,
      [this](std::span<const embedding_ref> fresh) {
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
    std::vector<embed_job> jobs;
    {
      std::unique_lock<std::mutex> lock(mutex_);
      std::size_t due = 0;
      // Woken by new jobs and by the calling thread starting to wait; the timeout looks again at
      // whether requests bind.
      work_.wait_for(lock, std::chrono::milliseconds(100),
                     [&] { return stopping_ || failed_ || (due = texts_due()) > 0; });
      if (stopping_ || failed_) return;
      if (due == 0) continue;
      jobs = take_texts(due);
      ++calls_in_flight_;
    }
    const auto start = std::chrono::steady_clock::now();
    std::size_t n = 0;
    try {
      n = embed(jobs, &stop_ctx);
    } catch (...) {
      std::lock_guard<std::mutex> lock(mutex_);
      --calls_in_flight_;
      throw;
    }
    const double took = seconds_since(start);
    bool last = false;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      --calls_in_flight_;
      chunks_embedded_ += static_cast<std::int64_t>(n);
      seconds_.embed += took;
      for (const auto& job : jobs) last = --job.owner->jobs_pending == 0 || last;
    }
    if (last) failpoint("ingest.batch_embedded");
    work_.notify_all();  // the writer may be waiting for this batch
  }
}

std::size_t ingest_stages::texts_due() const {
  if (jobs_.empty()) return 0;
  const std::size_t first = jobs_.front().texts.size();
  const std::size_t full = emb_.full_request_inputs();
  if (full == 0) return first;  // one job a call, as planned
  // Whole requests: the first job's texts rounded up to them, from what is queued. A part-filled one
  // only when no more texts can come before these are embedded: the calling thread waits for the
  // stages, no other embed call is in flight (whose end could let it submit more), and the writer
  // can free no batch without them (it writes in order: it is idle, and the next batch waits for
  // its embeddings).
  const std::size_t want = std::min(queued_texts_, (first + full - 1) / full * full);
  if (want >= full) return want / full * full;
  const bool writer_frees_one =
      alive_ > writes_.size() || (!writes_.empty() && writes_.front()->jobs_pending == 0);
  return caller_waiting_ && calls_in_flight_ == 0 && !writer_frees_one ? want : 0;
}

std::vector<embed_job> ingest_stages::take_texts(std::size_t n) {
  std::vector<embed_job> out;
  while (n > 0 && !jobs_.empty()) {
    embed_job& next = jobs_.front();
    if (next.texts.size() <= n) {
      n -= next.texts.size();
      queued_texts_ -= next.texts.size();
      out.push_back(std::move(next));
      jobs_.pop_front();
      continue;
    }
    // The first n texts of the job become a job of their own, of the same batch.
    const auto cut = static_cast<std::ptrdiff_t>(n);
    embed_job part{next.owner,
                   {next.slots.begin(), next.slots.begin() + cut},
                   {next.texts.begin(), next.texts.begin() + cut},
                   {next.hashes.begin(), next.hashes.begin() + cut}};
    next.slots.erase(next.slots.begin(), next.slots.begin() + cut);
    next.texts.erase(next.texts.begin(), next.texts.begin() + cut);
    next.hashes.erase(next.hashes.begin(), next.hashes.begin() + cut);
    ++next.owner->jobs_pending;
    queued_texts_ -= n;
    out.push_back(std::move(part));
    n = 0;
  }
  return out;
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
    work_.notify_all();  // an embed worker holding a part-filled request may send it now
  }
}

}  // namespace backfill
