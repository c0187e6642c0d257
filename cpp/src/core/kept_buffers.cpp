// The allowance of idle page-sized buffers (core/kept_buffers.hpp).
#include "backfill/core/kept_buffers.hpp"

#include <algorithm>
#include <atomic>

namespace backfill::kept_buffers {
namespace {

std::atomic<std::size_t> allowance_{0};
std::atomic<std::size_t> kept_{0};

}  // namespace

bool try_keep(std::size_t bytes) noexcept {
  std::size_t now = kept_.load(std::memory_order_relaxed);
  do {
    if (now + bytes > allowance_.load(std::memory_order_relaxed)) return false;
  } while (!kept_.compare_exchange_weak(now, now + bytes, std::memory_order_relaxed));
  return true;
}

void release(std::size_t bytes) noexcept {
  if (bytes > 0) kept_.fetch_sub(bytes, std::memory_order_relaxed);
}

void add_allowance(std::size_t bytes) noexcept { allowance_.fetch_add(bytes, std::memory_order_relaxed); }

// What is kept past a smaller allowance stays counted until it is used or freed; nothing new is
// kept until it fits again.
void remove_allowance(std::size_t bytes) noexcept {
  std::size_t now = allowance_.load(std::memory_order_relaxed);
  while (!allowance_.compare_exchange_weak(now, now - std::min(now, bytes), std::memory_order_relaxed)) {
  }
}

std::size_t kept() noexcept { return kept_.load(std::memory_order_relaxed); }
std::size_t allowance() noexcept { return allowance_.load(std::memory_order_relaxed); }

}  // namespace backfill::kept_buffers
