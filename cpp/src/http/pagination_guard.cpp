// The pagination guard: a cursor used before, a page body seen before, or item ids an earlier page
// already had, each a loud pagination_error with the evidence.
#include <algorithm>
#include <bit>
#include <cstdint>
#include <cstdlib>
#include <new>
#include <stdexcept>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include "backfill/core/errors.hpp"
#include "backfill/core/hash.hpp"
#include "backfill/http/paginate.hpp"
#include "backfill/http/scrub.hpp"

namespace backfill::http {

pagination_guard::id_pages::id_pages(id_pages&& o) noexcept
    : sorted_(std::exchange(o.sorted_, nullptr)),
      sorted_size_(std::exchange(o.sorted_size_, 0)),
      page_bits_(std::exchange(o.page_bits_, 0)),
      buckets_(std::move(o.buckets_)),
      recent_(std::move(o.recent_)),
      recent_pages_(std::move(o.recent_pages_)),
      slots_(std::move(o.slots_)) {}

pagination_guard::id_pages& pagination_guard::id_pages::operator=(id_pages&& o) noexcept {
  if (this != &o) {
    std::free(sorted_);
    sorted_ = std::exchange(o.sorted_, nullptr);
    sorted_size_ = std::exchange(o.sorted_size_, 0);
    page_bits_ = std::exchange(o.page_bits_, 0);
    buckets_ = std::move(o.buckets_);
    recent_ = std::move(o.recent_);
    recent_pages_ = std::move(o.recent_pages_);
    slots_ = std::move(o.slots_);
  }
  return *this;
}

pagination_guard::id_pages::~id_pages() { std::free(sorted_); }

std::size_t pagination_guard::id_pages::bytes() const noexcept {
  return sorted_size_ * sizeof(std::uint64_t) + buckets_.capacity() * sizeof(std::uint32_t) +
         recent_.capacity() * sizeof(std::uint64_t) + recent_pages_.capacity() * sizeof(page_end) +
         slots_.capacity() * sizeof(std::uint32_t);
}

std::uint32_t pagination_guard::id_pages::recent_page(std::size_t position) const noexcept {
  auto it = std::upper_bound(recent_pages_.begin(), recent_pages_.end(), position,
                             [](std::size_t at, const page_end& p) { return at < p.end; });
  return it->page;
}

std::uint32_t pagination_guard::id_pages::first_page(std::uint64_t hash, std::uint32_t page) {
  if (sorted_size_ > 0) {
    const unsigned q = page_bits_;
    const std::size_t bucket = static_cast<std::size_t>(hash >> (64 - q));
    const std::uint64_t key = hash << q;
    const std::uint64_t* end = sorted_ + buckets_[bucket + 1];
    const std::uint64_t* at =
        std::lower_bound(static_cast<const std::uint64_t*>(sorted_ + buckets_[bucket]), end, key);
    if (at != end && (*at >> q) == (key >> q))
      return static_cast<std::uint32_t>(*at & ((std::uint64_t{1} << q) - 1));
  }
  if (!slots_.empty()) {
    const std::size_t mask = slots_.size() - 1;
    for (std::size_t i = slot_of(hash, mask); slots_[i] != 0; i = (i + 1) & mask)
      if (recent_[slots_[i] - 1] == hash) return recent_page(slots_[i] - 1);
  }
  // The table of the newest ids doubles from 64 slots up to the largest power of two no more than a
  // thirty-second of the sorted ids (at least 4,096), then merges into them when half full: a merge
  // moves each sorted id once and adds at least 1/128 of them, so each new id costs at most ~128 moves
  // however many there are.
  if ((recent_.size() + 1) * 2 > slots_.size()) {
    std::size_t most = 4096;
    while (most * 2 <= sorted_size_ / 32) most *= 2;
    if (slots_.size() < most) {
      slots_.assign(slots_.empty() ? 64 : slots_.size() * 2, 0);
      recent_.reserve(slots_.size() / 2);
      index_recent();
    } else {
      merge();
    }
  }
  if (recent_pages_.empty() || recent_pages_.back().page != page) recent_pages_.push_back({page, 0});
  recent_.push_back(hash);
  recent_pages_.back().end = static_cast<std::uint32_t>(recent_.size());
  const std::size_t mask = slots_.size() - 1;
  std::size_t i = slot_of(hash, mask);
  while (slots_[i] != 0) i = (i + 1) & mask;
  slots_[i] = static_cast<std::uint32_t>(recent_.size());
  return page;
}

void pagination_guard::id_pages::index_recent() {
  const std::size_t mask = slots_.size() - 1;
  for (std::size_t at = 0; at < recent_.size(); ++at) {
    std::size_t i = slot_of(recent_[at], mask);
    while (slots_[i] != 0) i = (i + 1) & mask;
    slots_[i] = static_cast<std::uint32_t>(at + 1);
  }
}

void pagination_guard::id_pages::merge() {
  struct tagged {
    std::uint64_t hash;
    std::uint32_t page;
  };
  std::vector<tagged> fresh;
  fresh.reserve(recent_.size());
  std::size_t at = 0;
  for (const page_end& p : recent_pages_)
    for (; at < p.end; ++at) fresh.push_back({recent_[at], p.page});
  std::sort(fresh.begin(), fresh.end(), [](const tagged& a, const tagged& b) { return a.hash < b.hash; });
  const std::size_t total = sorted_size_ + fresh.size();
  if (total >= UINT32_MAX) throw std::length_error("pagination guard: more than 2^32 ids in one partition");
  // Pages only grow, so the newest id's page is the highest: q grows with it, never shrinks.
  const unsigned old_q = page_bits_;
  const unsigned q =
      std::max<unsigned>(old_q, static_cast<unsigned>(std::bit_width(recent_pages_.back().page)));
  // Grown in place, then merged from the back (each entry read before its place is written): no second
  // copy of the array is ever made. Every entry is rewritten for the new q and its bucket noted.
  auto* grown = static_cast<std::uint64_t*>(std::realloc(sorted_, total * sizeof(std::uint64_t)));
  if (!grown) throw std::bad_alloc();
  sorted_ = grown;
  std::vector<std::uint32_t> starts((std::size_t{1} << q) + 1, UINT32_MAX);
  starts.back() = static_cast<std::uint32_t>(total);
  std::size_t out = total, old = sorted_size_, add = fresh.size();
  std::size_t old_bucket = old_q == 0 ? 0 : (std::size_t{1} << old_q) - 1;
  const std::uint64_t old_page_mask = (std::uint64_t{1} << old_q) - 1;
  while (out > 0) {
    std::uint64_t hash = 0;
    std::uint32_t page = 0;
    bool from_old = false;
    if (old > 0) {
      while (buckets_[old_bucket] > old - 1) --old_bucket;
      const std::uint64_t e = sorted_[old - 1];
      hash = (static_cast<std::uint64_t>(old_bucket) << (64 - old_q)) | (e >> old_q);
      page = static_cast<std::uint32_t>(e & old_page_mask);
      from_old = add == 0 || hash > fresh[add - 1].hash;
    }
    if (from_old) {
      --old;
    } else {
      --add;
      hash = fresh[add].hash;
      page = fresh[add].page;
    }
    sorted_[--out] = (hash << q) | page;
    starts[static_cast<std::size_t>(hash >> (64 - q))] = static_cast<std::uint32_t>(out);
  }
  for (std::size_t b = starts.size() - 1; b-- > 0;)
    if (starts[b] == UINT32_MAX) starts[b] = starts[b + 1];
  buckets_ = std::move(starts);
  page_bits_ = q;
  sorted_size_ = total;
  recent_.clear();
  recent_pages_.clear();
  std::fill(slots_.begin(), slots_.end(), 0);
}

pagination_guard::pagination_guard(std::string what) : what_(std::move(what)) {}

namespace {

// Cursors may be URLs (Link paging) carrying credentials: only their scrubbed form is quoted.
std::string shown_cursor(std::string_view cursor) {
  return excerpt(cursor.find("://") != std::string_view::npos ? scrub_url(cursor) : std::string(cursor), 120);
}

}  // namespace

void pagination_guard::check(std::string_view raw_cursor, std::string_view body,
                             const std::vector<std::string>& ids, std::string_view next_cursor) {
  const std::int64_t page_no = ++pages_;
  const std::string shown = shown_cursor(raw_cursor);
  std::string_view cursor = raw_cursor;
  if (!cursor.empty()) {
    auto it = cursors_.find(cursor);
    if (it != cursors_.end())
      throw pagination_error(
          fmt::format("{}: the server repeated itself: page {} was requested with cursor '{}', which already "
                      "fetched page {}; {}",
                      what_, page_no, shown, it->second, repeating_server_fix));
    cursors_.emplace(std::string(cursor), page_no);
  }
  hash128 h = hash_bytes(body);
  auto key = std::make_pair(h.high, h.low);
  if (auto it = bodies_.find(key); it != bodies_.end())
    throw pagination_error(
        fmt::format("{}: the server repeated itself: page {} (cursor '{}') is identical to page {}; {}",
                    what_, page_no, shown, it->second, repeating_server_fix));
  bodies_.emplace(key, page_no);
  std::vector<std::string> repeated;
  std::int64_t earlier = 0;
  // Page numbers past 2^32 (never seen in practice) are kept as the largest that fits.
  const auto tag = static_cast<std::uint32_t>(std::min<std::int64_t>(page_no, UINT32_MAX));
  for (const auto& id : ids) {
    const std::uint32_t first = ids_.first_page(hash64(id), tag);
    if (first != tag) {
      if (repeated.size() < 5) repeated.push_back(id);
      earlier = first;
    }
  }
  if (!repeated.empty()) {
    std::string sample;
    for (const auto& id : repeated) sample += (sample.empty() ? "" : ", ") + excerpt(id, 60);
    throw pagination_error(fmt::format(
        "{}: the server repeated itself: page {} (cursor '{}') holds ids already seen on page {} ({}); {}",
        what_, page_no, shown, earlier, sample, repeating_server_fix));
  }
  if (!next_cursor.empty()) {
    auto it = cursors_.find(next_cursor);
    if (it != cursors_.end())
      throw pagination_error(
          fmt::format("{}: the server repeated itself: page {} (cursor '{}') names cursor '{}' for the next "
                      "page, which already fetched page {}; {}",
                      what_, page_no, shown, shown_cursor(next_cursor), it->second, repeating_server_fix));
  }
}

}  // namespace backfill::http
