// Pagination over the client: token/cursor, Link header and offset paging, every page checked by
// a guard that fails loudly when the server repeats itself.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <simdjson.h>

#include "backfill/core/context.hpp"
#include "backfill/core/parser_pool.hpp"
#include "backfill/http/client.hpp"

namespace backfill::http {

// What to do about a server that repeats itself; the guard's errors and the preflight's pagination
// probe end with it.
inline constexpr std::string_view repeating_server_fix =
    "the server does not page: check that the source's URL is the service itself (not a proxy or mirror "
    "that drops query parameters), and report it to its owner";

// Fails loudly when a paginator repeats itself: a cursor used before, a page body seen before, or
// item ids that an earlier page of the same partition already had. The error carries the evidence
// and ends with repeating_server_fix.
class pagination_guard {
 public:
  explicit pagination_guard(std::string what);
  // `cursor`: what fetched this page ("" for the first); `next_cursor`: what the page says fetches
  // the next one ("" = none, or not known yet), refused here already when it fetched a page before
  // (this one included), rather than when it is used. Throws pagination_error.
  void check(std::string_view cursor, std::string_view body, const std::vector<std::string>& ids,
             std::string_view next_cursor = {});
  std::int64_t pages() const noexcept { return pages_; }

 private:
  std::string what_;
  std::int64_t pages_ = 0;
  std::map<std::string, std::int64_t, std::less<>> cursors_;
  std::map<std::pair<std::uint64_t, std::uint64_t>, std::int64_t> bodies_;
  // Every item id of the partition so far, as a 64-bit hash with the page that first had it: 12 bytes
  // an id in one array sorted by hash (250,000 ids: 3 MB), grown in place by realloc (a block above
  // the mmap threshold moves by remapping, never copied into a second one), and the newest ids in a
  // small open-addressing table merged into the array when it is half full. A false alarm needs a
  // hash collision (about 1 in 10^7 at a million ids).
  class id_pages {
   public:
    id_pages() = default;
    id_pages(const id_pages&) = delete;
    id_pages& operator=(const id_pages&) = delete;
    id_pages(id_pages&& o) noexcept;
    id_pages& operator=(id_pages&& o) noexcept;
    ~id_pages();
    // The page that first had `hash`; records `page` for it when it is new.
    std::int64_t first_page(std::uint64_t hash, std::int64_t page);
    std::size_t size() const noexcept { return sorted_size_ + recent_used_; }

   private:
    struct entry {  // 12 bytes, 4-aligned: the hash in two halves, then its first page
      std::uint32_t high, low, page;
      std::uint64_t hash() const noexcept { return (std::uint64_t{high} << 32) | low; }
    };
    static std::size_t slot_of(std::uint64_t hash, std::size_t mask) noexcept {
      return static_cast<std::size_t>(hash ^ (hash >> 29)) & mask;
    }
    static void place_all(const std::vector<entry>& from, std::vector<entry>& to);
    void merge();
    entry* sorted_ = nullptr;  // malloc'd, sorted by hash, no two alike
    std::size_t sorted_size_ = 0;
    std::vector<entry> recent_;  // open addressing; page 0 = empty slot (pages count from 1)
    std::size_t recent_used_ = 0;
  };
  id_pages ids_;
};

struct page_spec {
  enum class kind { token, link, offset };
  kind paging = kind::token;
  // token: the query parameter that carries the token, the JSON pointer of the next token in the
  // body, and optionally of an "is last" boolean (Jira's /isLast). An empty or missing token ends.
  std::string token_param = "cursor";
  std::string next_token = "/response_metadata/next_cursor";
  std::string is_last;
  // offset: the parameters of the start and the page size, and the JSON pointer of the total.
  std::string offset_param = "startAt";
  std::string limit_param = "maxResults";
  std::int64_t page_size = 100;
  std::string total;
  // All kinds: the JSON pointer of the items array ("" = the body is the array) and the field of
  // each item that holds its id (for the guard; "" = no id check).
  std::string items;
  std::string id_field = "id";
};

struct page {
  const response& resp;
  // The body as it parses: resp.body, or a copy whose unreadable items (invalid UTF-8, a lone
  // surrogate, too deep) are null (core/json_items.hpp); the journal keeps resp.body.
  const std::string& json;
  std::int64_t items = 0;
  std::vector<std::string> ids;
  std::string cursor;       // what fetched this page
  std::string next_cursor;  // resume here; "" = this was the last page
  // `json` as paginate parsed it, valid while on_page runs, so the caller need not parse it again;
  // null when the page was not parsed (a 304 answer has no body) or after release_root().
  mutable const simdjson::dom::element* root = nullptr;
  // Lets go of `root` (null afterwards): its parser goes back to the shared pool
  // (core/parser_pool.hpp). A caller that has read what it needs from the page calls it before its
  // slower work (more requests, journaling), so partitions fetched at once share a few parse
  // buffers instead of holding one set each.
  void release_root() const noexcept {
    root = nullptr;
    if (parse) parse->release();
  }
  json::parser_lease* parse = nullptr;  // root's parser
};

// A 2xx page whose body is not whole JSON (cut short, malformed) is requested again as a transient
// failure (request::expect_json); one whose structure is whole but some items cannot be read is
// handed on with those items null in `page::json`, for the source to quarantine.
// Fetches pages starting at `cursor` ("" = the first page), calling `on_page` for each in order;
// every page passes `guard` before on_page sees it. The next page's request is already in flight
// while on_page runs (and is cancelled if on_page throws). Cursors are opaque strings: a token, a next URL
// (link paging) or an offset.
// `submitted`: the request of the page at `cursor`, already submitted by the caller (built by
// page_request), so that callers with several lists to read can have their first pages in flight
// at once; null = paginate submits it.
void paginate(client& c, const request& first, const page_spec& spec, std::string_view cursor,
              pagination_guard& guard, const std::function<void(const page&)>& on_page,
              run_context* ctx = nullptr, client::handle submitted = nullptr);

// The request paginate sends for the page at `cursor` ("" = the first) of the list `first` starts.
request page_request(const request& first, const page_spec& spec, const std::string& cursor);

}  // namespace backfill::http
