// The pool of recycled responses (response_pool.hpp).
#include "http/response_pool.hpp"

namespace backfill::http {
namespace {

// Enough to serve the many small answers of a sink's or an embedder's calls without new allocations,
// little enough that the pool does not hold a run's memory budget (pipeline_options::memory_budget_mb)
// idle. A page-sized body (a 3 MB search page) is freed, not kept: mapped on its own (pipeline.cpp's
// mmap threshold), it goes back to the system, and the next one costs a page's faults (~0.5 ms),
// little beside the page's parse and journaling.
constexpr std::size_t max_count = 8;
constexpr std::size_t max_body = 1u << 20;
constexpr std::size_t max_total = 16u << 20;

}  // namespace

response response_pool::take() {
  std::lock_guard<std::mutex> lock(mutex_);
  if (shells_.empty()) return {};
  response r = std::move(shells_.back());
  shells_.pop_back();
  bytes_ -= r.body.capacity();
  return r;
}

void response_pool::give(response&& r) {
  if (r.body.capacity() > max_body) std::string().swap(r.body);
  std::lock_guard<std::mutex> lock(mutex_);
  if (shells_.size() >= max_count || bytes_ + r.body.capacity() > max_total) return;  // freed
  bytes_ += r.body.capacity();
  shells_.push_back(std::move(r));
}

}  // namespace backfill::http
