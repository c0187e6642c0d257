#include "backfill/core/memory_budget.hpp"

#include <algorithm>
#include <chrono>

namespace backfill {

memory_budget::lease& memory_budget::lease::operator=(lease&& other) noexcept {
  if (this != &other) {
    release();
    budget_ = other.budget_;
    bytes_ = other.bytes_;
    other.budget_ = nullptr;
  }
  return *this;
}

void memory_budget::lease::release() noexcept {
  if (budget_) budget_->give_back(bytes_);
  budget_ = nullptr;
}

void memory_budget::grant(std::size_t bytes) noexcept {
  held_ += bytes;
  peak_ = std::max(peak_, held_);
}

void memory_budget::give_back(std::size_t bytes) noexcept {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    held_ -= std::min(bytes, held_);
  }
  freed_.notify_all();
}

memory_budget::lease memory_budget::take(std::size_t bytes, run_context& ctx) {
  std::unique_lock<std::mutex> lock(mutex_);
  if (!fits(bytes)) {
    ++waits_;
    // Short waits, so a stop asked for on another thread is seen at the next checkpoint.
    while (!freed_.wait_for(lock, std::chrono::milliseconds(50), [&] { return fits(bytes); })) {
      lock.unlock();
      ctx.checkpoint();
      lock.lock();
    }
  }
  grant(bytes);
  return lease(this, bytes);
}

std::optional<memory_budget::lease> memory_budget::try_take(std::size_t bytes) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (!fits(bytes)) return std::nullopt;
  grant(bytes);
  return lease(this, bytes);
}

void memory_budget::set_aside(std::size_t bytes) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    aside_ = std::min(bytes, total_);
  }
  freed_.notify_all();
}

std::size_t memory_budget::aside() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return aside_;
}

std::size_t memory_budget::held() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return held_;
}

std::size_t memory_budget::peak() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return peak_;
}

void memory_budget::reset_peak() {
  std::lock_guard<std::mutex> lock(mutex_);
  peak_ = held_;
}

std::int64_t memory_budget::waits() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return waits_;
}

}  // namespace backfill
