// The pool of recycled responses (response_pool.hpp).
#include "http/response_pool.hpp"

#include <mutex>
#include <utility>
#include <vector>

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
// Bodies from this size up are mapped on their own (pipeline.cpp's mmap threshold).
constexpr std::size_t mapped_alone = 1u << 20;

std::size_t room(const response& r) { return r.body.capacity(); }

// Every client's pool, for release_idle_pages().
struct registry {
  std::mutex mutex;
  std::vector<response_pool*> pools;
};
registry& pools() {
  static registry* r = new registry;  // never destroyed: clients may outlive static destruction
  return *r;
}

}  // namespace

response_pool::response_pool() {
  registry& all = pools();
  std::lock_guard<std::mutex> lock(all.mutex);
  all.pools.push_back(this);
}

response_pool::~response_pool() {  // the shells' charges are given back with them
  registry& all = pools();
  std::lock_guard<std::mutex> lock(all.mutex);
  std::erase(all.pools, this);
}

void response_pool::release_pages() noexcept {
  std::lock_guard<std::mutex> lock(mutex_);
  for (shell& s : shells_) {
    if (s.kept) {
      std::string().swap(s.r.body);
      s.kept.drop();
    }
    if (s.kept_index) {
      s.r.index.reset();
      s.kept_index.drop();
    }
  }
}

void release_idle_pages() noexcept {
  registry& all = pools();
  std::lock_guard<std::mutex> lock(all.mutex);
  for (response_pool* p : all.pools) p->release_pages();
}

bool response_pool::make_idle(response&& r, shell& out) {
  bool page_freed = false;
  out.kept = {};
  out.kept_index = {};
  if (room(r) > max_body) {
    out.kept = kept_buffers::charge::try_take(room(r));
    if (!out.kept) {
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
      out.kept_index = kept_buffers::charge::try_take(resident);
      if (!out.kept_index) r.index.reset();
    }
  }
  out.r = std::move(r);
  return out.kept || bytes_ + room(out.r) <= max_total;
}

void response_pool::count_out(shell& s) {
  if (!s.kept) bytes_ -= room(s.r);
  s.kept.drop();
  s.kept_index.drop();
}

// The shell with the smallest body: the answer's length, once known, brings a larger one if it
// needs it (make_room).
response response_pool::take() {
  shell s;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (shells_.empty()) return {};
    std::size_t best = 0;
    for (std::size_t i = 1; i < shells_.size(); ++i)
      if (room(shells_[i].r) < room(shells_[best].r)) best = i;
    std::swap(shells_[best], shells_.back());
    s = std::move(shells_.back());
    shells_.pop_back();
    count_out(s);
  }
  return std::move(s.r);
}

void response_pool::make_room(response& r, std::size_t need, std::size_t grow_to) {
  if (room(r) >= need) return;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    // A small answer's room is cheap to make; a page body is lent only to an answer of a page's size.
    shell* best = nullptr;
    for (shell& s : shells_)
      if (room(s.r) >= need && (need > max_body || room(s.r) <= max_body) &&
          (!best || room(s.r) < room(best->r)))
        best = &s;
    if (best) {
      count_out(*best);
      response lent = std::move(best->r);
      lent.body.assign(r.body);  // what r holds so far (nothing, when the length came first)
      std::swap(lent.body, r.body);
      std::swap(lent.index, r.index);
      lent.body.clear();
      // r's own body and index go idle in the shell they came from, if the bounds allow
      shell idle;
      if (make_idle(std::move(lent), idle)) {
        if (!idle.kept) bytes_ += room(idle.r);
        *best = std::move(idle);
      } else {
        if (best != &shells_.back()) *best = std::move(shells_.back());
        shells_.pop_back();
      }
      return;
    }
  }
  r.body.reserve(std::max(need, grow_to));
  // The answer's length is known: a page-sized body, a fresh mapping, has every page written next.
  if (grow_to == 0 && r.body.capacity() >= mapped_alone)
    kept_buffers::make_resident(r.body.data(), r.body.capacity());
}

// A full pool keeps the larger bodies: a small one is cheap to make again, a page-sized one costs
// a fault for each 4 kB.
void response_pool::give(response&& r) {
  shell idle;
  std::lock_guard<std::mutex> lock(mutex_);
  if (!make_idle(std::move(r), idle)) return;  // freed, its charges given back, on return
  if (shells_.size() >= max_count) {
    std::size_t smallest = 0;
    for (std::size_t i = 1; i < shells_.size(); ++i)
      if (room(shells_[i].r) < room(shells_[smallest].r)) smallest = i;
    if (room(shells_[smallest].r) >= room(idle.r)) return;
    count_out(shells_[smallest]);
    std::swap(shells_[smallest], shells_.back());
    shells_.pop_back();
  }
  if (!idle.kept) bytes_ += room(idle.r);
  shells_.push_back(std::move(idle));
}

}  // namespace backfill::http
