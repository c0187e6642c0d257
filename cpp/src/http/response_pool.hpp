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
class response_pool {
 public:
  response_pool() = default;
  response_pool(const response_pool&) = delete;
  response_pool& operator=(const response_pool&) = delete;
  ~response_pool();

  response take();
  void give(response&& r);

 private:
  struct shell {
    response r;
    kept_buffers::charge kept;        // a page-sized body's bytes (a small body's are counted in bytes_)
    kept_buffers::charge kept_index;  // its stage-1 index's, when it is one for a page
  };
  std::mutex mutex_;
  std::vector<shell> shells_;
  std::size_t bytes_ = 0;
};

// A header field of the response being built, into the strings a recycled response left behind
// when there are some (`count` of them are this response's). A Content-Length reserves the body.
inline void store_header(response& r, std::size_t& count, std::string_view name, std::string_view value) {
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
    if (len > 0 && len < (std::size_t{1} << 31)) r.body.reserve(len + simdjson::SIMDJSON_PADDING);
  }
}

// A body chunk, with simdjson's padding kept in reserve.
inline void append_body(std::string& body, const char* data, std::size_t bytes) {
  std::size_t need = body.size() + bytes + simdjson::SIMDJSON_PADDING;
  if (body.capacity() < need) body.reserve(std::max(body.capacity() * 2, need));
  body.append(data, bytes);
}

}  // namespace backfill::http
