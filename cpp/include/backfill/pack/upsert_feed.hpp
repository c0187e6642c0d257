// Records handed to a sink from outside the pipeline (Sink.upsert from Python): the metadata step
// the pipeline takes when it builds a record, and a feed that upserts slices of records while the
// caller produces the next ones.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <exception>
#include <functional>
#include <mutex>
#include <vector>

#include "backfill/core/document.hpp"
#include "backfill/core/task_group.hpp"
#include "backfill/sinks/sink.hpp"

namespace backfill::pack {

// Fits each record's metadata to target.metadata_limit() (fit_metadata, pack/sanitize.hpp; nothing
// when the sink has no limit); a record that cannot be fitted is logged and removed. Logs what was
// changed. Returns the number of records removed.
std::size_t fit_records(const sink& target, std::vector<record>& records);

// fit_records, then target.upsert: the acknowledged count.
std::int64_t upsert_fitted(sink& target, std::vector<record>& records);

// Upserts slices of records (upsert_fitted) on worker threads while the caller fills the next ones:
// filling and sending overlap instead of adding up. A sink whose upserts may run at once gets three
// workers, so that one slice's last acknowledgements are awaited while the next slices are already
// on the wire; at most two filled slices wait, so memory stays bounded. No worker takes a lock the
// caller could hold, so the caller may fill slices under a lock of its own (Python's GIL) and only
// needs to let go of it around push() and finish().
class upsert_feed {
 public:
  explicit upsert_feed(sink& target);
  // Drops what waits and joins the workers (an upsert in flight runs to its end).
  ~upsert_feed();
  upsert_feed(const upsert_feed&) = delete;
  upsert_feed& operator=(const upsert_feed&) = delete;

  // A slice already sent, to be filled again with its memory kept (empty when there is none).
  std::vector<record> spare();
  // Queues a filled slice; blocks while two wait. False when a worker has failed: stop filling,
  // finish() raises its error.
  bool push(std::vector<record> slice);
  // Waits until every queued slice is upserted; returns the acknowledged count, or rethrows the
  // first error of a worker.
  std::int64_t finish();
  // Drops what waits and waits for the workers; for a caller that failed to fill a slice.
  void abort() noexcept;

 private:
  void work();

  sink& target_;
  std::mutex mutex_;
  std::condition_variable changed_;
  std::deque<std::vector<record>> ready_;
  std::vector<std::vector<record>> spare_;
  bool finished_ = false;  // no more slices will come (or a worker failed)
  bool failed_ = false;
  std::int64_t acked_ = 0;
  task_group workers_;
};

// Records filled in slices to send: fill(begin, end, out) puts records [begin, end) into `out`
// (a slice handed back for reuse keeps its memory).
using fill_fn = std::function<void(std::size_t begin, std::size_t end, std::vector<record>& out)>;
// Runs the function it is given with the caller's own lock let go (Python's GIL), or just runs it.
using unlocked_fn = std::function<void(const std::function<void()>&)>;

// Upserts `count` records that `fill` produces on the calling thread, a slice at a time, while an
// upsert_feed sends the slices before: returns the acknowledged count, or raises the first error of
// either side (what waits is then not sent). Every wait, and all of a call small enough for one
// slice but its filling, runs inside `unlocked`.
std::int64_t upsert_in_slices(sink& target, std::size_t count, const fill_fn& fill,
                              const unlocked_fn& unlocked);

}  // namespace backfill::pack
