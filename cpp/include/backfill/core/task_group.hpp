// Threads that run a group of tasks together and fail together: the core's one way to run work in
// parallel (partitions fetched at once, comment pages read at once, the ingest stages).
//
// The first task to throw stops the group: stopping() turns true, so the other tasks end at their
// next checkpoint (a run_context whose stop callback reads it), and wait() rethrows that error once
// every thread has ended. When several tasks fail, the one with the lowest index is raised (for
// for_each, the job's index; for spawn, the order of spawning), so the error a user sees does not
// depend on thread timing. A `cancelled` thrown while the group is already stopping is the echo of
// that stop, not an error of its own, and never hides the failure that caused it.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <exception>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace backfill {

class task_group {
 public:
  task_group() = default;
  // Stops and joins whatever still runs; never throws (an error nobody waited for is dropped).
  ~task_group();
  task_group(const task_group&) = delete;
  task_group& operator=(const task_group&) = delete;

  // Runs `fn` on a thread of its own.
  void spawn(std::function<void()> fn);
  // Runs job(i, worker) for every i in [0, count) on min(workers, count) threads (at least one),
  // which take the next index as they finish one. No new job starts once the group is stopping.
  void for_each(std::size_t count, std::size_t workers,
                std::function<void(std::size_t job, std::size_t worker)> job);

  bool stopping() const noexcept { return stop_.load(std::memory_order_relaxed); }
  void request_stop() noexcept { stop_.store(true, std::memory_order_relaxed); }

  // Waits until every thread has ended, then rethrows the group's error, if any. `tick`, when given,
  // runs on the calling thread about every `interval` meanwhile (for checkpoints and progress); if
  // it throws, the group stops, every thread is joined and that exception propagates.
  void wait(const std::function<void()>& tick = {},
            std::chrono::milliseconds interval = std::chrono::milliseconds(20));

 private:
  void record(std::size_t index, std::exception_ptr error, bool is_cancel);
  void thread_ended();
  void join_all() noexcept;

  std::atomic<bool> stop_{false};
  std::mutex mutex_;
  std::condition_variable ended_;
  std::size_t running_ = 0;
  std::size_t spawned_ = 0;
  std::vector<std::thread> threads_;
  std::exception_ptr error_;
  std::size_t error_index_ = 0;
  bool error_is_cancel_ = false;
};

}  // namespace backfill
