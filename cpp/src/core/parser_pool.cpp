// The shared pool of page parsers (core/parser_pool.hpp).
#include "backfill/core/parser_pool.hpp"

#include <array>
#include <mutex>
#include <vector>

namespace backfill::json {
namespace {

// Parsers kept idle: pages read at the same moment by partitions fetched at once (4 by default), a
// scan taking a few ms of each page's cycle (its requests, compression, fsyncs), rarely need more.
constexpr std::size_t max_idle = 2;

struct pool {
  pool() { idle.reserve(max_idle); }  // so that giving one back never allocates
  std::mutex mutex;
  std::vector<std::unique_ptr<simdjson::dom::parser>> idle;
};

pool& shared() {
  static pool* p = new pool;  // never destroyed: leases may be released by threads ending after main
  return *p;
}

}  // namespace

parser_lease::parser_lease() {
  pool& p = shared();
  {
    std::lock_guard<std::mutex> lock(p.mutex);
    if (!p.idle.empty()) {
      parser_ = std::move(p.idle.back());
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
  std::unique_ptr<simdjson::dom::parser> freed;  // freed outside the lock
  {
    std::lock_guard<std::mutex> lock(p.mutex);
    if (p.idle.size() < max_idle) {
      p.idle.push_back(std::move(parser_));
      return;
    }
  }
  freed = std::move(parser_);
}

void release_idle_parsers() noexcept {
  pool& p = shared();
  std::array<std::unique_ptr<simdjson::dom::parser>, max_idle> freed;  // freed outside the lock
  std::lock_guard<std::mutex> lock(p.mutex);
  for (std::size_t i = 0; i < p.idle.size(); ++i) freed[i] = std::move(p.idle[i]);
  p.idle.clear();
}

}  // namespace backfill::json
