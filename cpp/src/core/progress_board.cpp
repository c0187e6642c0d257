// The board of the phase's progress and the quota that binds (progress_board.hpp).
#include "backfill/core/progress_board.hpp"

#include <algorithm>
#include <mutex>

namespace backfill::progress_board {

namespace {

struct board {
  std::mutex mutex;
  progress last;
  std::int64_t first_done = 0;
  const void* owner = nullptr;  // the run_context that posted `last`
  clock::time_point began{};
  std::string quota;
  clock::time_point quota_until{};
};

board& the_board() {
  static board b;
  return b;
}

}  // namespace

void post(const progress& p, clock::time_point now, const void* owner) {
  board& b = the_board();
  std::lock_guard<std::mutex> lock(b.mutex);
  if (owner != b.owner || p.phase != b.last.phase || p.done < b.last.done) {
    b.began = now;
    b.first_done = p.done;
  }
  if (owner != b.owner && b.quota_until < now) b.quota.clear();  // a wait of an earlier run
  b.last = p;
  b.owner = owner;
}

void forget(const void* owner) {
  board& b = the_board();
  std::lock_guard<std::mutex> lock(b.mutex);
  if (b.owner != owner) return;
  b.last = progress{};
  b.owner = nullptr;
}

std::optional<eta> estimate(clock::time_point now) {
  board& b = the_board();
  std::lock_guard<std::mutex> lock(b.mutex);
  const progress& p = b.last;
  if (p.phase.empty() || p.total <= 0) return std::nullopt;
  eta e;
  e.phase = p.phase;
  e.share = std::min(1.0, static_cast<double>(p.done) / static_cast<double>(p.total));
  const double elapsed = std::chrono::duration<double>(now - b.began).count();
  const double rate = elapsed > 0 ? static_cast<double>(p.done - b.first_done) / elapsed : 0;
  e.seconds = rate > 0 ? static_cast<double>(std::max<std::int64_t>(0, p.total - p.done)) / rate : -1;
  return e;
}

void post_wait(const std::string& quota, clock::time_point until) {
  board& b = the_board();
  std::lock_guard<std::mutex> lock(b.mutex);
  b.quota = quota;
  b.quota_until = until;
}

std::string binding(clock::time_point now) {
  board& b = the_board();
  std::lock_guard<std::mutex> lock(b.mutex);
  // A wait just ended still binds the tick that follows it (the next wait is usually posted then).
  return !b.quota.empty() && now <= b.quota_until + std::chrono::milliseconds(500) ? b.quota : std::string();
}

}  // namespace backfill::progress_board
