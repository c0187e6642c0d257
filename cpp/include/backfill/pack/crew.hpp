// Threads that share one round of work with the calling thread, round after round: the helpers
// that read Sink.upsert's records from Python while the calling thread reads too.
//
// Why not task_group, the core's way to run tasks in parallel: task_group starts its threads for
// each call, and these rounds are short and back to back (a slice of 512 records is read in ~2 ms,
// then the next). Starting three threads costs tens of microseconds each, on the thread that holds
// the GIL and is the bottleneck; waking a crew that waits on a condition variable costs a few.
// A crew lives for one call of its owner (the threads end with it).
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace backfill::pack {

class crew {
 public:
  // part(begin, end, worker): worker 0 is the calling thread, 1..helpers() the crew's threads.
  using part_fn = std::function<void(std::size_t begin, std::size_t end, std::size_t worker)>;

  // `chunk`: items a worker takes at a time (small enough to even out the shares).
  crew(std::size_t helpers, std::size_t chunk);
  ~crew();
  crew(const crew&) = delete;
  crew& operator=(const crew&) = delete;

  // One per core beyond the first, at most 3.
  static std::size_t default_helpers();
  std::size_t helpers() const noexcept { return threads_.size(); }

  // part() over [0, count) in chunks, on the calling thread and the helpers at once; returns when
  // all are done, rethrowing the calling thread's error, else the first a helper raised.
  void run(std::size_t count, const part_fn& part);

 private:
  void serve(std::size_t who);
  void take_parts(std::size_t who);

  const std::size_t chunk_;
  std::mutex mutex_;
  std::condition_variable start_, done_;
  const part_fn* part_ = nullptr;
  std::size_t count_ = 0;
  std::atomic<std::size_t> next_{0};
  std::uint64_t round_ = 0;
  std::size_t busy_ = 0;
  bool stop_ = false;
  std::exception_ptr failure_;
  std::vector<std::thread> threads_;
};

}  // namespace backfill::pack
