// Run context: cancellation, progress and warnings about the data, shared by every phase. The core polls
// checkpoint() at natural boundaries (a page, a batch); the binding decides what a tick does (check Python
// signals, forward logs, call the progress callback) and how often, so the core knows nothing about Python.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <exception>
#include <functional>
#include <mutex>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "backfill/core/fields.hpp"

namespace backfill {

struct progress {
  std::string phase;        // "fetch", "ingest", "verify", ...
  std::string partition;    // current partition, if any
  std::int64_t done = 0;    // units done in this phase
  std::int64_t total = -1;  // -1 when unknown
  std::string unit;         // "pages", "documents", "records"
  std::string quota;        // the quota holding the phase back at this tick ("openai tokens"), or ""
};
BACKFILL_FIELDS(progress, &s::phase, &s::partition, &s::done, &s::total, &s::unit, &s::quota)

// One run_context per phase call, used from the thread that runs the phase (request_stop() may be
// called from any thread).
class run_context {
 public:
  // Returns true to stop. An error it raises stops the run too: the phase unwinds with cancelled,
  // and tick_error() holds the error for the caller to raise in its place.
  using tick_fn = std::function<bool(const progress&)>;

  run_context() = default;
  explicit run_context(tick_fn tick, std::chrono::milliseconds interval = std::chrono::milliseconds(50))
      : tick_(std::move(tick)), interval_(interval) {}
  ~run_context();
  run_context(const run_context&) = delete;
  run_context& operator=(const run_context&) = delete;

  // Cheap when called often: calls the tick at most once per interval. Throws backfill::cancelled
  // when a stop was requested.
  void checkpoint();
  // Same, but always ticks (phase boundaries).
  void checkpoint_now();

  void request_stop() noexcept { stop_.store(true, std::memory_order_relaxed); }
  bool stop_requested() const noexcept { return stop_.load(std::memory_order_relaxed); }
  std::exception_ptr tick_error() const noexcept { return tick_error_; }

  progress& state() noexcept { return progress_; }
  // A pass over a list (the plan's partitions): starts `item`, with `before` of the list done.
  void step(std::string_view item, std::int64_t before) {
    progress_.partition = item;
    progress_.done = before;
    checkpoint();
  }
  // Ticks the state the previous phase ended in (when it was another phase, or another pass of this
  // one: another unit), then starts `phase` with `done` of its `total` done already.
  void begin_phase(std::string phase, std::string unit, std::int64_t total = -1, std::int64_t done = 0);

  // A warning about the data a phase reads (a value of a shape nothing reads, left out): every one
  // is counted; the first of each `kind` is logged and kept as an example (up to max_warning_kinds).
  // Safe from any thread.
  void warn(std::string_view kind, const std::string& message);
  std::int64_t warnings() const;
  std::vector<std::string> warning_examples() const;
  static constexpr std::size_t max_warning_kinds = 100;

  // Flow control for a fetch whose pages are consumed as they come (a fetch beside the ingest,
  // pipeline/fetch.cpp): `ahead` says the consumer has enough pages of other partitions to read,
  // so this fetch's next request can wait; `wait` returns when that may have changed (or after a
  // short while). Paginated fetches ask before each request after the first (http::paginate) and
  // hold it without holding a page. Unset: never ahead.
  struct pace {
    std::function<bool()> ahead;
    std::function<void()> wait;
  };
  void set_pace(pace p) { pace_ = std::move(p); }
  // Never while a page is open: a fetch inside a page (the comments of a search page) goes on, so
  // the page it completes is let go as soon as possible.
  bool ahead() const { return pages_open_ == 0 && pace_.ahead && pace_.ahead(); }
  // Waits while ahead(), checking for a stop at every wake-up.
  void wait_while_ahead();
  // Around the handling of a fetched page (http::paginate), on this context's thread.
  void page_opened() noexcept { ++pages_open_; }
  void page_closed() noexcept { --pages_open_; }

 private:
  tick_fn tick_;
  std::chrono::milliseconds interval_{50};
  std::chrono::steady_clock::time_point last_{};
  std::atomic<bool> stop_{false};
  std::exception_ptr tick_error_;
  progress progress_;
  mutable std::mutex warn_mu_;
  std::int64_t warnings_ = 0;
  std::set<std::string, std::less<>> warned_kinds_;
  std::vector<std::string> warning_examples_;
  pace pace_;
  int pages_open_ = 0;
};

}  // namespace backfill
