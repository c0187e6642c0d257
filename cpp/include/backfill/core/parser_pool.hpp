// simdjson parsers for whole pages, shared by the threads that parse them. A page's parser holds
// buffers of about ten times the page's bytes once it has parsed one (a few MB of them touched, so
// resident); one a thread or one a partition fetched at once multiplies that, while each holds its
// page's parse only for the moments the page is read (paginate, then the source's scan of it). A
// lease takes an idle parser (or makes one) and gives it back when it is released or destroyed; the
// pool keeps a few idle ones warm and frees the rest, so the resident parse buffers follow how many
// pages are being read at the same moment, not how many partitions are open.
#pragma once

#include <memory>

#include <simdjson.h>

namespace backfill::json {

class parser_lease {
 public:
  parser_lease();  // takes a parser from the pool
  parser_lease(parser_lease&& other) noexcept = default;
  parser_lease& operator=(parser_lease&& other) noexcept;
  parser_lease(const parser_lease&) = delete;
  parser_lease& operator=(const parser_lease&) = delete;
  ~parser_lease() { release(); }

  // The parser, valid until release(); whatever it parsed is invalid after that.
  simdjson::dom::parser& operator*() const noexcept { return *parser_; }
  // Back to the pool (kept warm while it holds fewer than its idle limit, freed otherwise).
  void release() noexcept;
  bool held() const noexcept { return parser_ != nullptr; }

 private:
  std::unique_ptr<simdjson::dom::parser> parser_;
};

// Frees the idle parsers (a stage that parsed pages has ended: their buffers are not kept for later).
void release_idle_parsers() noexcept;

}  // namespace backfill::json
