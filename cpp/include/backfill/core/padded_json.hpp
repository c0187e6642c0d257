// Parsing a std::string with simdjson without copying it: HTTP bodies and journal pages are read into
// strings whose capacity already holds SIMDJSON_PADDING bytes past the end, so the parser may read
// them in place. A string without that room is copied into a padded buffer first.
#pragma once

#include <string>

#include <simdjson.h>

namespace backfill::json {

// Parses `body` into `root` with `parser`; the error code is simdjson's (SUCCESS when it parsed).
// `root` points into `parser` and stays valid until its next parse.
inline simdjson::error_code parse_padded(simdjson::dom::parser& parser, const std::string& body,
                                         simdjson::dom::element& root) {
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

}  // namespace backfill::json
