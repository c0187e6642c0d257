// Log records held for a thread that forwards them later (the Python binding drains them into
// logging.getLogger("backfill") while it holds the GIL). Bounded and never blocking the thread that
// logs: records that arrive while it is full are counted, so the drain can say how many were lost.
#pragma once

#include <cstddef>
#include <deque>
#include <mutex>
#include <string>
#include <utility>

namespace backfill {

class log_queue {
 public:
  explicit log_queue(std::size_t capacity = 10000) : capacity_(capacity) {}

  // Levels as log_function has them. Safe from any thread.
  void push(int level, const std::string& message);

  struct batch {
    std::deque<std::pair<int, std::string>> records;  // oldest first
    std::size_t dropped = 0;                          // records refused since the last take()
  };
  // Everything queued and the drop count, leaving the queue empty.
  batch take();

  // The process's queue: from the first call on, every core log record goes to it (set_log_function)
  // instead of spdlog. Never destroyed: core threads may log during shutdown.
  static log_queue& capture();

 private:
  std::mutex mutex_;
  batch queued_;
  std::size_t capacity_;
};

}  // namespace backfill
