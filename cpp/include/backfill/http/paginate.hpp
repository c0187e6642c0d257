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
#include "backfill/core/json_walk.hpp"
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
  // Bytes the item ids seen so far hold (the id table's blocks, not the cursors and page hashes).
  std::size_t id_bytes() const noexcept { return ids_.bytes(); }

 private:
  std::string what_;
  std::int64_t pages_ = 0;
  std::map<std::string, std::int64_t, std::less<>> cursors_;
  std::map<std::pair<std::uint64_t, std::uint64_t>, std::int64_t> bodies_;
  // Every item id of the partition so far as its whole 64-bit hash, 8 bytes an id, in a layout that
  // still tells a repeated id's error which page first had it. The ids live in one array sorted by
  // hash (grown in place by realloc: a block past the mmap threshold is remapped, never copied into a
  // second one) and split into 2^q buckets by the hash's top q bits, q the bits of the highest page
  // number so far, with where each bucket starts (4 bytes a bucket, at most two buckets a page). An
  // entry is the hash shifted left by q, its page in the q bits that frees: the top q bits it lost are
  // its bucket's number. The newest ids wait in the order they came, with where each page's ids end
  // (so a position gives the page), behind an open-addressing table of their positions (4 bytes a
  // slot; 64 slots doubling up to the largest power of two no more than a thirty-second of the sorted
  // ids, at least 4,096), merged into the array when the table is half full.
  // Held: 8 bytes an id, plus at most a quarter byte an id (the table, and the newest ids' room
  // reserved after a merge), plus O(pages): a 250,000-id partition of 100-id pages 2.06 MB, a million
  // ids 8.20 MB (12.6 MB with entries of hash and page, 12 bytes). While a merge runs it also holds the
  // newest ids sorted with their pages (16 bytes each, at most a sixty-fourth of the sorted ids).
  // The whole hash is kept, so a false alarm still needs a 64-bit hash collision (about 1 in 10^7 at a
  // million ids).
  class id_pages {
   public:
    id_pages() = default;
    id_pages(const id_pages&) = delete;
    id_pages& operator=(const id_pages&) = delete;
    id_pages(id_pages&& o) noexcept;
    id_pages& operator=(id_pages&& o) noexcept;
    ~id_pages();
    // The page that first had `hash`; records `page` (1 or more, never less than the last one given)
    // for it when it is new.
    std::uint32_t first_page(std::uint64_t hash, std::uint32_t page);
    std::size_t size() const noexcept { return sorted_size_ + recent_.size(); }
    std::size_t bytes() const noexcept;

   private:
    struct page_end {  // the newest ids of `page` end before recent_[end]
      std::uint32_t page, end;
    };
    static std::size_t slot_of(std::uint64_t hash, std::size_t mask) noexcept {
      return static_cast<std::size_t>(hash ^ (hash >> 29)) & mask;
    }
    std::uint32_t recent_page(std::size_t position) const noexcept;
    void index_recent();
    void merge();
    std::uint64_t* sorted_ = nullptr;  // malloc'd: (hash << q) | page, sorted by hash, no two alike
    std::size_t sorted_size_ = 0;
    unsigned page_bits_ = 0;              // q; 0 while nothing is sorted
    std::vector<std::uint32_t> buckets_;  // 2^q + 1: where each bucket starts in sorted_, then the end
    std::vector<std::uint64_t> recent_;   // the newest hashes, in the order they came
    std::vector<page_end> recent_pages_;  // their pages, in order
    std::vector<std::uint32_t> slots_;    // open addressing over recent_: position + 1, 0 = empty
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
  // How a page is read. By default it is parsed whole into simdjson's DOM, handed to on_page as
  // page::root. With `scan`, only what paging needs is read (the items, their ids, the next token or
  // the total) by a walk over the page's structural index (core/json_walk.hpp), which passes over
  // everything else without building it; page::root is then null. The items' members named in
  // `item_members` are handed to `on_member` on the way (the item's position in the page, the
  // member's key, a walk at its value, which on_member reads or skips past). A page the walk cannot
  // read as expected (an item that is not an object, a string with escapes where a value is read,
  // pointers below the root, on_member returning false) is parsed whole instead, with page::root
  // set: on_page must handle both.
  bool scan = false;
  std::vector<std::string> item_members;
  std::function<bool(std::size_t, std::string_view, json::walk&)> on_member;
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
