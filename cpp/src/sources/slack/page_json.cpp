#include "sources/slack/page_json.hpp"

#include "backfill/core/errors.hpp"
#include "backfill/core/padded_json.hpp"

namespace backfill::slack {
namespace {

const char* type_name(element e) noexcept {
  using simdjson::dom::element_type;
  switch (e.type()) {
    case element_type::ARRAY: return "an array";
    case element_type::OBJECT: return "an object";
    case element_type::STRING: return "a string";
    case element_type::INT64:
    case element_type::UINT64:
    case element_type::DOUBLE: return "a number";
    case element_type::BOOL: return "a boolean";
    case element_type::NULL_VALUE: return "null";
  }
  return "something else";
}

// Parses `body`, without a copy when it has simdjson padding capacity (journal pages do).
element parse_json(simdjson::dom::parser& parser, const std::string& body, const std::string& what) {
  element root;
  if (const simdjson::error_code err = json::parse_padded(parser, body, root); err != simdjson::SUCCESS)
    throw source_error(what + ": invalid JSON: " + simdjson::error_message(err));
  return root;
}

}  // namespace

parser_pool::lease::lease(parser_pool& pool) : pool_(pool) {
  std::lock_guard lock(pool_.mutex_);
  if (pool_.parsers_.empty()) {
    parser_ = std::make_unique<simdjson::dom::parser>();
  } else {
    parser_ = std::move(pool_.parsers_.back());
    pool_.parsers_.pop_back();
  }
}

parser_pool::lease::~lease() {
  std::lock_guard lock(pool_.mutex_);
  pool_.parsers_.push_back(std::move(parser_));
}

namespace {

array array_of(element root, const std::string& what) {
  array a;
  if (root.get_array().get(a) != simdjson::SUCCESS)
    throw source_error(what + ": expected a JSON array, got " + type_name(root));
  return a;
}

array array_under(element root, const std::string& what, std::string_view key) {
  array a;
  if (root[key].get_array().get(a) != simdjson::SUCCESS)
    throw source_error(what + ": expected an object with a \"" + std::string(key) + "\" array, got " +
                       type_name(root));
  return a;
}

element parse_journal_page(const std::string& body, const std::string& what) {
  element root;
  if (const simdjson::error_code err = json::parse_page(body, root); err != simdjson::SUCCESS)
    throw source_error(what + ": invalid JSON: " + simdjson::error_message(err));
  return root;
}

}  // namespace

array parse_array(simdjson::dom::parser& parser, const std::string& body, const std::string& what) {
  return array_of(parse_json(parser, body, what), what);
}

array parse_array(simdjson::dom::parser& parser, const std::string& body, const std::string& what,
                  std::string_view key) {
  return array_under(parse_json(parser, body, what), what, key);
}

array journal_array(const std::string& body, const std::string& what) {
  return array_of(parse_journal_page(body, what), what);
}

array journal_array(const std::string& body, const std::string& what, std::string_view key) {
  return array_under(parse_journal_page(body, what), what, key);
}

std::int64_t count_items(simdjson::dom::parser& parser, const std::string& body, const std::string& what) {
  const array items = parse_array(parser, body, what);
  std::size_t n = items.size();
  if (n >= 0xFFFFFF) {  // simdjson saturates the stored count: count by walking
    n = 0;
    for ([[maybe_unused]] element e : items) ++n;
  }
  return static_cast<std::int64_t>(n);
}

}  // namespace backfill::slack
