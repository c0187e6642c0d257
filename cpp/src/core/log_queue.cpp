#include "backfill/core/log_queue.hpp"

#include "backfill/core/log.hpp"

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

log_queue& log_queue::capture() {
  static log_queue* q = [] {
    auto* queue = new log_queue();
    set_log_function([queue](int level, const std::string& message) { queue->push(level, message); });
    return queue;
  }();
  return *q;
}

}  // namespace backfill
