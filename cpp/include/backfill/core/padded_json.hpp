// Parsing a std::string with simdjson without copying it: HTTP bodies and journal pages are read into
// strings whose capacity already holds SIMDJSON_PADDING bytes past the end, so the parser may read
// them in place. A string without that room is copied into a padded buffer first.
#pragma once

#include <algorithm>
#include <cstdint>
#include <string>
#include <utility>

#include <simdjson.h>

namespace backfill::json {

// Grows `parser` to hold `bytes` of JSON with a quarter more room, so a parser reused for pages of
// varying sizes reallocates its buffers (each a mapping of its own, faulted in afresh) only when a
// page is a quarter larger than the largest before, not at every new largest page. Room that is
// never parsed into is never touched, so it costs address space, not resident memory. Small
// documents are left to simdjson's exact sizing; on a failure to allocate, the parse reports it.
inline void fit_parser(simdjson::dom::parser& parser, std::size_t bytes) {
  if (bytes < (std::size_t{64} << 10) || (parser.capacity() >= bytes && parser.doc.capacity() >= bytes))
    return;
  std::size_t room = bytes + bytes / 4;
  room = std::min(parser.max_capacity(), (room + 0xffff) & ~std::size_t{0xffff});
  if (room < bytes) return;
  if (parser.doc.capacity() < room && parser.doc.allocate(room)) return;
  if (parser.capacity() < room && parser.allocate(room, parser.max_depth())) return;
}

// Appends the canonical JSON of a parsed value (json::canonicalize's bytes, without parsing text
// again); false when it holds something JSON cannot carry, with `out` half written.
bool append_canonical(std::string& out, simdjson::dom::element value);

// Parses `body` into `root` with `parser`; the error code is simdjson's (SUCCESS when it parsed).
// `root` points into `parser` and stays valid until its next parse.
inline simdjson::error_code parse_padded(simdjson::dom::parser& parser, const std::string& body,
                                         simdjson::dom::element& root) {
  fit_parser(parser, body.size());
  if (body.capacity() >= body.size() + simdjson::SIMDJSON_PADDING)
    return parser.parse(body.data(), body.size(), false).get(root);
  return parser.parse(body).get(root);
}

// The calling thread's parser for a journal page read whole and then let go (json::readable's
// check, then the source's normalize of that page): one a thread instead of one a use, so a thread
// holds one page's parse buffers (about ten times the page's bytes), not one set a call site.
// Whoever parses into it must be done with the root of its previous parse.
inline simdjson::dom::parser& page_parser() {
  thread_local simdjson::dom::parser parser;
  return parser;
}

// A page's parse handed from the check that made it to the reader of the same page: json::readable
// parses a journal page whole into page_parser() and hands that parse over; the source's normalize
// reading the page next takes it (parse_page) instead of parsing the page a second time. A hand-over
// names the exact bytes (address and size) and lasts until the next parse_page or drop_page_parse()
// (journal_pages drops it when the page's reader returns), so other bytes in the same buffer later
// are always parsed afresh.
namespace detail {
struct handed_page {
  const char* data = nullptr;
  std::size_t size = 0;
  simdjson::dom::element root;
};
inline handed_page& page_handed_over() {
  thread_local handed_page h;
  return h;
}
// Parses made into the thread's page_parser(), so a hand-over is known to still hold.
inline std::uint64_t& page_parses() {
  thread_local std::uint64_t n = 0;
  return n;
}
}  // namespace detail

inline void drop_page_parse() noexcept { detail::page_handed_over().data = nullptr; }

// Parses `body` into page_parser() and hands the parse over to the next parse_page of `body`.
inline simdjson::error_code parse_page_to_hand_over(const std::string& body, simdjson::dom::element& root) {
  drop_page_parse();
  ++detail::page_parses();
  const simdjson::error_code err = parse_padded(page_parser(), body, root);
  if (!err) detail::page_handed_over() = {body.data(), body.size(), root};
  return err;
}

// `body` parsed with page_parser(), or the parse of these very bytes handed over just before.
inline simdjson::error_code parse_page(const std::string& body, simdjson::dom::element& root) {
  detail::handed_page& h = detail::page_handed_over();
  if (h.data != nullptr && h.data == body.data() && h.size == body.size()) {
    root = h.root;
    h.data = nullptr;
    return simdjson::SUCCESS;
  }
  h.data = nullptr;
  ++detail::page_parses();
  return parse_padded(page_parser(), body, root);
}

// Runs `read`, a reader of `body` that may take the parse handed over for it (parse_page), and then
// hands that parse over again to the next reader of the same bytes, unless `read` parsed into
// page_parser() meanwhile: two readers of one page, one parse.
template <class Read>
void share_page_parse(const std::string& body, Read&& read) {
  const detail::handed_page before = detail::page_handed_over();
  const std::uint64_t parses = detail::page_parses();
  struct again {
    const detail::handed_page& before;
    const std::string& body;
    std::uint64_t parses;
    ~again() {
      if (before.data == body.data() && before.size == body.size() && detail::page_parses() == parses)
        detail::page_handed_over() = before;
    }
  } hand_over_again{before, body, parses};
  std::forward<Read>(read)();
}

}  // namespace backfill::json
