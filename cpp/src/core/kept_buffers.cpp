// The allowance of idle page-sized buffers (core/kept_buffers.hpp).
#include "backfill/core/kept_buffers.hpp"

#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdint>

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

void make_resident(void* data, std::size_t bytes) noexcept {
#ifdef MADV_POPULATE_WRITE
  static const auto page = static_cast<std::uintptr_t>(::sysconf(_SC_PAGESIZE));
  const auto begin = reinterpret_cast<std::uintptr_t>(data);
  const std::uintptr_t from = (begin + page - 1) & ~(page - 1);
  const std::uintptr_t to = (begin + bytes) & ~(page - 1);
  if (to > from) (void)::madvise(reinterpret_cast<void*>(from), to - from, MADV_POPULATE_WRITE);
#else
  (void)data;
  (void)bytes;
#endif
}

}  // namespace backfill::kept_buffers
