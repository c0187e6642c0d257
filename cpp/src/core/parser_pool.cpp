// The shared pool of page parsers (core/parser_pool.hpp).
#include "backfill/core/parser_pool.hpp"

#include <array>
#include <mutex>
#include <vector>

#include "backfill/core/kept_buffers.hpp"

namespace backfill::json {
namespace {

// Parsers kept idle: pages read at the same moment by partitions fetched at once (4 by default), a
// scan taking a few ms of each page's cycle (its requests, compression, fsyncs), rarely need more.
// A page-sized parser is kept only within the run's allowance of idle buffers
// (core/kept_buffers.hpp), freed otherwise.
constexpr std::size_t max_idle = 2;
constexpr std::size_t small_capacity = 128u << 10;  // bytes of JSON: a parser kept whatever the allowance

struct idle_parser {
  std::unique_ptr<simdjson::dom::parser> parser;
  kept_buffers::charge kept;  // a page-sized parser's (a small one is kept uncounted)
};

struct pool {
  pool() { idle.reserve(max_idle); }  // so that giving one back never allocates
  std::mutex mutex;
  std::vector<idle_parser> idle;
};

pool& shared() {
  static pool* p = new pool;  // never destroyed: leases may be released by threads ending after main
  return *p;
}

}  // namespace

parser_lease::parser_lease() {
  pool& p = shared();
  kept_buffers::charge kept;  // given back once the parser is taken: it is in use
  {
    std::lock_guard<std::mutex> lock(p.mutex);
    if (!p.idle.empty()) {
      parser_ = std::move(p.idle.back().parser);
      kept = std::move(p.idle.back().kept);
      p.idle.pop_back();
    }
  }
  if (!parser_) parser_ = std::make_unique<simdjson::dom::parser>();
}

parser_lease& parser_lease::operator=(parser_lease&& other) noexcept {
  if (this != &other) {
    release();
    parser_ = std::move(other.parser_);
  }
  return *this;
}

void parser_lease::release() noexcept {
  if (!parser_) return;
  pool& p = shared();
  const std::size_t capacity = parser_->capacity();
  std::unique_ptr<simdjson::dom::parser> freed = std::move(parser_);  // freed outside the lock
  kept_buffers::charge kept;
  if (capacity > small_capacity) {
    kept = kept_buffers::charge::try_take(kept_buffers::parser_footprint(capacity));
    if (!kept) return;  // past the allowance: freed
  }
  std::lock_guard<std::mutex> lock(p.mutex);
  if (p.idle.size() < max_idle) p.idle.push_back({std::move(freed), std::move(kept)});
  // else the pool is full: freed, its charge given back, once the lock is let go
}

void release_idle_parsers() noexcept {
  pool& p = shared();
  std::array<idle_parser, max_idle> freed;  // freed, their charges given back, outside the lock
  std::lock_guard<std::mutex> lock(p.mutex);
  for (std::size_t i = 0; i < p.idle.size(); ++i) freed[i] = std::move(p.idle[i]);
  p.idle.clear();
}

}  // namespace backfill::json
