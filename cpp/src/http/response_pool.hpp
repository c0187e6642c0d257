// Responses handed back by client::recycle(), their memory kept for the next ones, and how a
// response is built into that memory as a transfer delivers it.
#pragma once

#include <algorithm>
#include <charconv>
#include <cstddef>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include <simdjson.h>

#include "backfill/core/kept_buffers.hpp"
#include "backfill/http/request.hpp"
#include "http/text.hpp"

namespace backfill::http {

// A few recycled responses (bounded count and bytes; bodies over 1 MB only within the run's
// allowance of idle buffers, core/kept_buffers.hpp): the body's capacity, the header strings (left
// in place past the count a builder keeps), the URL, and the body's stage-1 index (forgotten: it is
// made again for the next body; a page-sized one only within the allowance too).
//
// A response is not sized when its transfer starts: a client's small and page-sized answers come
// in any order (a Jira search page beside its issues' comment pages). So take() hands out the
// smallest shell, and a page-sized body goes to the answer that needs it once its length is known
// (the Content-Length, or a body outgrowing its room): make_room() swaps in the idle body, with
// its index, that fits best.
class response_pool {
 public:
  response_pool();
  response_pool(const response_pool&) = delete;
  response_pool& operator=(const response_pool&) = delete;
  ~response_pool();

  response take();
  void give(response&& r);
  // Room for `need` bytes in r.body, keeping what it holds: the smallest idle body that fits (a
  // page-sized one only for a page-sized need), with its index, in place of r's own, which goes
  // idle in its stead; else r.body grows to `grow_to` (at least `need`).
  void make_room(response& r, std::size_t need, std::size_t grow_to = 0);
  // Frees the idle page-sized bodies and indexes (those charged to the allowance); the shells stay.
  void release_pages() noexcept;

 private:
  struct shell {
    response r;
    kept_buffers::charge kept;        // a page-sized body's bytes (a small body's are counted in bytes_)
    kept_buffers::charge kept_index;  // its stage-1 index's, when it is one for a page
  };
  // r as an idle shell, charged (a page-sized body or index that the allowance has no room for is
  // freed); false when a small body does not fit in the pool's bytes. Called under mutex_.
  bool make_idle(response&& r, shell& out);
  void count_out(shell& s);  // s leaves the pool: its body's bytes are no longer idle

  std::mutex mutex_;
  std::vector<shell> shells_;
  std::size_t bytes_ = 0;
};

// A header field of the response being built, into the strings a recycled response left behind
// when there are some (`count` of them are this response's). A Content-Length makes the body's room.
inline void store_header(response_pool& pool, response& r, std::size_t& count, std::string_view name,
                         std::string_view value) {
  auto& headers = r.headers;
  if (count == headers.size()) {
    if (headers.capacity() == 0) headers.reserve(16);
    headers.emplace_back();
  }
  header& h = headers[count++];
  h.name.assign(name);
  for (char& c : h.name) c = ascii_lower(c);
  h.value.assign(value);
  if (h.name == "content-length") {
    std::size_t len = 0;
    std::from_chars(value.data(), value.data() + value.size(), len);
    if (len > 0 && len < (std::size_t{1} << 31)) pool.make_room(r, len + simdjson::SIMDJSON_PADDING);
  }
}

// A body chunk, with simdjson's padding kept in reserve.
inline void append_body(response_pool& pool, response& r, const char* data, std::size_t bytes) {
  std::size_t need = r.body.size() + bytes + simdjson::SIMDJSON_PADDING;
  if (r.body.capacity() < need) pool.make_room(r, need, r.body.capacity() * 2);
  r.body.append(data, bytes);
}

}  // namespace backfill::http
