// The pagination guard: a cursor used before, a page body seen before, or item ids an earlier page
// already had, each a loud pagination_error with the evidence.
#include <algorithm>
#include <cstdint>

#include <fmt/format.h>

#include "backfill/core/errors.hpp"
#include "backfill/core/hash.hpp"
#include "backfill/http/paginate.hpp"
#include "backfill/http/scrub.hpp"

namespace backfill::http {

std::int64_t pagination_guard::id_pages::first_page(std::uint64_t hash, std::int64_t page) {
  if ((used_ + 1) * 10 > keys_.size() * 7) grow();  // load <= 0.7
  if (hash == 0) hash = 1;
  const std::size_t mask = keys_.size() - 1;
  for (std::size_t i = static_cast<std::size_t>(hash) & mask;; i = (i + 1) & mask) {
    if (keys_[i] == hash) return pages_[i];
    if (keys_[i] == 0) {
      keys_[i] = hash;
      // Page numbers past 2^32 (never seen in practice) are kept as the largest that fits.
      pages_[i] = static_cast<std::uint32_t>(std::min<std::int64_t>(page, UINT32_MAX));
      ++used_;
      return page;
    }
  }
}

void pagination_guard::id_pages::grow() {
  std::vector<std::uint64_t> keys(keys_.empty() ? 1024 : keys_.size() * 2, 0);
  std::vector<std::uint32_t> pages(keys.size(), 0);
  const std::size_t mask = keys.size() - 1;
  for (std::size_t j = 0; j < keys_.size(); ++j) {
    if (keys_[j] == 0) continue;
    std::size_t i = static_cast<std::size_t>(keys_[j]) & mask;
    while (keys[i] != 0) i = (i + 1) & mask;
    keys[i] = keys_[j];
    pages[i] = pages_[j];
  }
  keys_.swap(keys);
  pages_.swap(pages);
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
