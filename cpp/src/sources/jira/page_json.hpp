// Reading Jira's JSON: the search pages the source fetches and the journal pages it normalizes.
#pragma once

#include <string>
#include <string_view>

#include <fmt/format.h>
#include <simdjson.h>

#include "backfill/core/errors.hpp"
#include "backfill/core/padded_json.hpp"

namespace backfill::jira_json {

// The string at `pointer` (e.g. "/fields/summary"), or "" when it is absent or not a string.
inline std::string_view get_str(const simdjson::dom::element& e, std::string_view pointer) {
  std::string_view s;
  if (e.at_pointer(pointer).get(s)) return {};
  return s;
}

// Parses `body`, without a copy when it has simdjson padding capacity (HTTP and journal bodies do).
// `what` names the body in the error.
inline simdjson::dom::element parse_padded(simdjson::dom::parser& parser, const std::string& body,
                                           const std::string& what) {
  simdjson::dom::element root;
  if (const simdjson::error_code err = json::parse_padded(parser, body, root))
    throw source_error(fmt::format("{} is not valid JSON: {}", what, simdjson::error_message(err)));
  return root;
}

// A journal page parsed with the thread's page parser (or the parse json::readable handed over).
inline simdjson::dom::element parse_page(const std::string& body, const std::string& what) {
  simdjson::dom::element root;
  if (const simdjson::error_code err = json::parse_page(body, root))
    throw source_error(fmt::format("{} is not valid JSON: {}", what, simdjson::error_message(err)));
  return root;
}

}  // namespace backfill::jira_json
