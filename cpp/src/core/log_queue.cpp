#include "backfill/core/log_queue.hpp"

namespace backfill {

void log_queue::push(int level, const std::string& message) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (queued_.records.size() >= capacity_) {
    ++queued_.dropped;
    return;
  }
  queued_.records.emplace_back(level, message);
}

log_queue::batch log_queue::take() {
  std::lock_guard<std::mutex> lock(mutex_);
  return std::exchange(queued_, batch{});
}

}  // namespace backfill
