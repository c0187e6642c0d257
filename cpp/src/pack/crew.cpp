#include "backfill/pack/crew.hpp"

#include <algorithm>
#include <utility>

namespace backfill::pack {

crew::crew(std::size_t helpers, std::size_t chunk) : chunk_(std::max<std::size_t>(chunk, 1)) {
  for (std::size_t i = 0; i < helpers; ++i) threads_.emplace_back([this, i] { serve(i + 1); });
}

crew::~crew() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stop_ = true;
  }
  start_.notify_all();
  for (auto& t : threads_) t.join();
}

std::size_t crew::default_helpers() {
  unsigned cores = std::thread::hardware_concurrency();
  return cores > 1 ? std::min<std::size_t>(cores - 1, 3) : 0;
}

void crew::take_parts(std::size_t who) {
  for (std::size_t lo; (lo = next_.fetch_add(chunk_)) < count_;)
    (*part_)(lo, std::min(count_, lo + chunk_), who);
}

void crew::run(std::size_t count, const part_fn& part) {
  if (threads_.empty() || count <= chunk_) {
    part(0, count, 0);
    return;
  }
  {
    std::lock_guard<std::mutex> lock(mutex_);
    part_ = &part;
    count_ = count;
    next_ = 0;
    busy_ = threads_.size();
    ++round_;
  }
  start_.notify_all();
  std::exception_ptr mine;
  try {
    take_parts(0);
  } catch (...) {
    mine = std::current_exception();
    next_ = count;  // the helpers stop taking parts
  }
  std::unique_lock<std::mutex> lock(mutex_);
  done_.wait(lock, [&] { return busy_ == 0; });
  part_ = nullptr;
  std::exception_ptr theirs = std::exchange(failure_, nullptr);
  lock.unlock();
  if (!mine) mine = theirs;
  if (mine) std::rethrow_exception(mine);
}

void crew::serve(std::size_t who) {
  std::uint64_t seen = 0;
  std::unique_lock<std::mutex> lock(mutex_);
  while (true) {
    start_.wait(lock, [&] { return stop_ || round_ != seen; });
    if (stop_) return;
    seen = round_;
    lock.unlock();
    std::exception_ptr failed;
    try {
      take_parts(who);
    } catch (...) {
      failed = std::current_exception();
      next_ = count_;
    }
    lock.lock();
    if (failed && !failure_) failure_ = failed;
    if (--busy_ == 0) done_.notify_one();
  }
}

}  // namespace backfill::pack
