// The pagination guard: a cursor used before, a page body seen before, or item ids an earlier page
// already had, each a loud pagination_error with the evidence.
#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <new>
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
      recent_(std::move(o.recent_)),
      recent_used_(std::exchange(o.recent_used_, 0)) {}

pagination_guard::id_pages& pagination_guard::id_pages::operator=(id_pages&& o) noexcept {
  if (this != &o) {
    std::free(sorted_);
    sorted_ = std::exchange(o.sorted_, nullptr);
    sorted_size_ = std::exchange(o.sorted_size_, 0);
    recent_ = std::move(o.recent_);
    recent_used_ = std::exchange(o.recent_used_, 0);
  }
  return *this;
}

pagination_guard::id_pages::~id_pages() { std::free(sorted_); }

std::int64_t pagination_guard::id_pages::first_page(std::uint64_t hash, std::int64_t page) {
  const auto high = static_cast<std::uint32_t>(hash >> 32), low = static_cast<std::uint32_t>(hash);
  const entry* end = sorted_ + sorted_size_;
  const entry* at = std::lower_bound(static_cast<const entry*>(sorted_), end, hash,
                                     [](const entry& e, std::uint64_t h) { return e.hash() < h; });
  if (at != end && at->high == high && at->low == low) return at->page;
  // The table of the newest ids doubles from 64 slots up to a sixteenth as many as the sorted ids (at
  // least 4,096), then merges into them when half full: a merge moves each sorted id once, so each
  // new id costs ~32 moves however many there are.
  if ((recent_used_ + 1) * 2 > recent_.size()) {
    std::size_t most = 4096;
    while (most < sorted_size_ / 16) most *= 2;
    if (recent_.size() < most) {
      std::vector<entry> bigger(recent_.empty() ? 64 : recent_.size() * 2);
      place_all(recent_, bigger);
      recent_.swap(bigger);
    } else {
      merge();
    }
  }
  const std::size_t mask = recent_.size() - 1;
  for (std::size_t i = slot_of(hash, mask);; i = (i + 1) & mask) {
    entry& e = recent_[i];
    if (e.page == 0) {
      // Page numbers past 2^32 (never seen in practice) are kept as the largest that fits.
      e = {high, low, static_cast<std::uint32_t>(std::clamp<std::int64_t>(page, 1, UINT32_MAX))};
      ++recent_used_;
      return page;
    }
    if (e.high == high && e.low == low) return e.page;
  }
}

void pagination_guard::id_pages::place_all(const std::vector<entry>& from, std::vector<entry>& to) {
  const std::size_t mask = to.size() - 1;
  for (const entry& e : from) {
    if (e.page == 0) continue;
    std::size_t i = slot_of(e.hash(), mask);
    while (to[i].page != 0) i = (i + 1) & mask;
    to[i] = e;
  }
}

void pagination_guard::id_pages::merge() {
  std::vector<entry> fresh;
  fresh.reserve(recent_used_);
  for (entry& e : recent_)
    if (e.page != 0) {
      fresh.push_back(e);
      e = {};
    }
  recent_used_ = 0;
  std::sort(fresh.begin(), fresh.end(), [](const entry& a, const entry& b) { return a.hash() < b.hash(); });
  // Grown in place, then merged from the back: no second copy of the array is ever made.
  auto* grown = static_cast<entry*>(std::realloc(sorted_, (sorted_size_ + fresh.size()) * sizeof(entry)));
  if (!grown) throw std::bad_alloc();
  sorted_ = grown;
  std::size_t out = sorted_size_ + fresh.size(), old = sorted_size_, add = fresh.size();
  while (add > 0) {
    if (old > 0 && sorted_[old - 1].hash() > fresh[add - 1].hash())
      sorted_[--out] = sorted_[--old];
    else
      sorted_[--out] = fresh[--add];
  }
  sorted_size_ += fresh.size();
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
  for (const auto& id : ids) {
    const std::int64_t first = ids_.first_page(hash64(id), page_no);
    if (first != page_no) {
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
