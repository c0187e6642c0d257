// The ingest's stages after a batch is built, overlapping:
//
//   calling thread        builds batches (dedup, records, intent, embed plan) and submits them;
//   embed workers (N)     call the embedder, N calls in flight, and store each call's vectors in the
//                         cache as soon as it returns (a crash never pays for them twice); when the
//                         embedder's request quota binds (embedder::full_request_inputs()), a call
//                         takes queued texts in whole requests, across jobs and batches; a part-filled
//                         request waits for more texts while any can still come (the calling thread
//                         is not waiting for the stages, or another embed call is in flight);
//   writer (1)            takes batches in the order they were submitted, once their vectors are all
//                         there, and writes them (batch_writer.hpp).
//
// At most max_alive() batches exist between the calling thread and the writer, and together they
// hold no more bytes than the run's memory budget allows (core/memory_budget.hpp; one batch alone
// always goes through), so memory is bounded whatever the corpus size. The writer is the only thread that
// touches the sink. Without overlap, every batch goes through the stages on the calling thread, one after
// another (the way a simple script would do it; kept for comparison and for debugging).
#pragma once

#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <filesystem>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "backfill/core/context.hpp"
#include "backfill/core/memory_budget.hpp"
#include "backfill/core/task_group.hpp"
#include "backfill/embed/embedder.hpp"
#include "backfill/ingest/batch.hpp"
#include "backfill/ingest/batch_writer.hpp"
#include "backfill/ledger/ledger.hpp"

namespace backfill {

struct stage_options {
  bool overlap = true;
  std::size_t embed_workers = 1;      // embed calls in flight
  std::size_t batches_in_flight = 0;  // 0 = embed_workers + 2
  std::filesystem::path ledger_path;  // each thread that writes opens its own connection (WAL)
  memory_budget* budget = nullptr;    // what the batches in flight take their bytes from, if any
  std::size_t dimension = 0;          // the embedder's, for a batch's bytes
};

class ingest_stages {
 public:
  // `book` is the calling thread's ledger, used for everything when not overlapped.
  ingest_stages(embedder& emb, batch_writer& writer, ledger& book, stage_options options);
  ~ingest_stages();
  ingest_stages(const ingest_stages&) = delete;
  ingest_stages& operator=(const ingest_stages&) = delete;

  std::size_t max_alive() const noexcept { return max_alive_; }

  // Hands a batch over. Blocks (checking `ctx`) while max_alive() batches are in flight, or, when
  // `drain`, until every earlier batch is written.
  void submit(std::shared_ptr<batch> b, std::vector<embed_job> jobs, bool drain, run_context& ctx);

  // Waits until every submitted batch is written, then stops the threads. Rethrows the error of a
  // stage that failed (when several did, the one task_group picks).
  void finish(run_context& ctx);

  // Stops everything after an error on the calling thread; batches not yet committed are simply
  // ingested again by the next run (their intent is in the ledger, their vectors in the cache).
  void abandon() noexcept;

  std::int64_t chunks_embedded() const noexcept { return chunks_embedded_; }

  // Where the stages' time went (valid after finish()): seconds spent in embed calls, summed over
  // the workers (quota waits inside the embedder included); in writing batches to the sink and the
  // ledger; and by the calling thread blocked in submit()/finish() waiting for both.
  struct busy_seconds {
    double embed = 0;
    double write = 0;
    double held = 0;
  };
  busy_seconds seconds() const;

 private:
  template <typename Pred>
  void wait_until(run_context& ctx, Pred ready);
  void stop_and_join();  // rethrows the error of a stage
  void fail() noexcept;
  void embed_loop();
  void write_loop();
  std::size_t embed(std::vector<embed_job>& jobs, run_context* ctx);
  // The texts an embed call takes next (0: none yet), and taking them off the queue (with mutex_ held).
  std::size_t texts_due() const;
  std::vector<embed_job> take_texts(std::size_t n);

  embedder& emb_;
  std::string emb_id_;
  batch_writer& writer_;
  ledger& book_;
  bool overlap_;
  std::size_t max_alive_;
  memory_budget* budget_;
  std::size_t dimension_;

  std::unique_ptr<ledger> cache_ledger_;
  std::unique_ptr<ledger> writer_ledger_;
  std::mutex cache_mutex_;

  mutable std::mutex mutex_;
  std::condition_variable work_;  // wakes embed workers and the writer
  std::condition_variable done_;  // wakes the calling thread
  std::deque<embed_job> jobs_;
  std::size_t queued_texts_ = 0;  // in jobs_
  bool caller_waiting_ = false;   // the calling thread waits in submit() or finish()
  std::size_t calls_in_flight_ = 0;
  std::deque<std::shared_ptr<batch>> writes_;
  std::size_t alive_ = 0;
  bool stopping_ = false;
  bool failed_ = false;
  std::int64_t chunks_embedded_ = 0;
  busy_seconds seconds_;  // guarded by mutex_
  task_group threads_;    // last: destroyed (stopped and joined) first
};

}  // namespace backfill
