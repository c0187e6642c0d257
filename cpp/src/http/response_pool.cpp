// The pool of recycled responses (response_pool.hpp).
#include "http/response_pool.hpp"

#include "backfill/core/json_walk.hpp"
#include "backfill/core/kept_buffers.hpp"

namespace backfill::http {
namespace {

// Enough to serve the many small answers of a sink's or an embedder's calls without new allocations,
// little enough that the pool does not hold a run's memory budget (pipeline_options::memory_budget_mb)
// idle. A page-sized body (a 3 MB search page, an embeddings answer) is mapped on its own
// (pipeline.cpp's mmap threshold): it is kept within the run's allowance of idle buffers
// (core/kept_buffers.hpp), so the next page is written into pages already resident instead of
// faulting in a fresh mapping (~750 faults for 3 MB); past the allowance it is freed.
constexpr std::size_t max_count = 8;
constexpr std::size_t max_body = 1u << 20;
constexpr std::size_t max_total = 16u << 20;

}  // namespace

// The shell with the largest body: a page-sized answer then finds the room it needs, and a small
// one written into a large body costs nothing more.
response response_pool::take() {
  kept_buffers::charge kept, kept_index;  // given back on return: body and index are in use again
  response r;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (shells_.empty()) return {};
    std::size_t best = 0;
    for (std::size_t i = 1; i < shells_.size(); ++i)
      if (shells_[i].r.body.capacity() > shells_[best].r.body.capacity()) best = i;
    std::swap(shells_[best], shells_.back());
    r = std::move(shells_.back().r);
    kept = std::move(shells_.back().kept);
    kept_index = std::move(shells_.back().kept_index);
    shells_.pop_back();
    if (!kept) bytes_ -= r.body.capacity();
  }
  return r;
}

void response_pool::give(response&& r) {
  kept_buffers::charge kept, kept_index;
  bool page_freed = false;
  if (r.body.capacity() > max_body) {
    kept = kept_buffers::charge::try_take(r.body.capacity());
    if (!kept) {
      std::string().swap(r.body);
      page_freed = true;
    }
  }
  if (r.index) {
    // Of the body it was made for: the next body may come to the same bytes, at the same length.
    json::forget(*r.index);
    if (page_freed) {
      r.index.reset();  // the allowance is spent: a page's index goes with its page
    } else if (const std::size_t resident = json::index_resident(*r.index); resident > json::small_index) {
      kept_index = kept_buffers::charge::try_take(resident);
      if (!kept_index) r.index.reset();
    }
  }
  std::lock_guard<std::mutex> lock(mutex_);
  if (shells_.size() < max_count && (kept || bytes_ + r.body.capacity() <= max_total)) {
    if (!kept) bytes_ += r.body.capacity();
    shells_.push_back({std::move(r), std::move(kept), std::move(kept_index)});
  }
  // else `r` is freed, and its charges given back, on return
}

response_pool::~response_pool() = default;  // the shells' charges are given back with them

}  // namespace backfill::http
