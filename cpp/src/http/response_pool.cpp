// The pool of recycled responses (response_pool.hpp).
#include "http/response_pool.hpp"

namespace backfill::http {
namespace {

// Enough to serve the next pages of a few concurrent paginations without new allocations, little
// enough that the pool does not hold a run's memory budget (pipeline_options::memory_budget_mb) idle.
constexpr std::size_t max_count = 8;
constexpr std::size_t max_body = 8u << 20;
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
