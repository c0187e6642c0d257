// Telling a page's items apart without parsing them: a scanner of the JSON structure that skips
// strings by their quotes and escapes (their bytes unchecked) and brackets by count (no depth limit),
// so an item that simdjson refuses is found, named and left out while the rest of the page reads.
#include "backfill/core/json_items.hpp"

#include <optional>
#include <utility>

#include <fmt/format.h>
#include <simdjson.h>

#include "backfill/core/json.hpp"
#include "backfill/core/kept_buffers.hpp"
#include "backfill/core/padded_json.hpp"

namespace backfill::json {
namespace {

constexpr std::size_t npos = std::string_view::npos;
constexpr std::size_t kept_parser_capacity = 128u << 10;  // bytes of JSON (~1.3 MB of parse buffers)

bool space(char c) noexcept { return c == ' ' || c == '\n' || c == '\r' || c == '\t'; }

std::size_t skip_space(std::string_view s, std::size_t i) noexcept {
  while (i < s.size() && space(s[i])) ++i;
  return i;
}

// `i` at an opening quote: the offset after its closing quote, or npos.
std::size_t skip_string(std::string_view s, std::size_t i) noexcept {
  for (++i; i < s.size(); ++i) {
    if (s[i] == '\\')
      ++i;
    else if (s[i] == '"')
      return i + 1;
  }
  return npos;
}

bool scalar_char(char c) noexcept {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || c == '-' || c == '+' || c == '.' || c == 'E';
}

// `i` at the start of a value: the offset after it, or npos when its structure is broken.
std::size_t skip_value(std::string_view s, std::size_t i) noexcept {
  if (i >= s.size()) return npos;
  const char c = s[i];
  if (c == '"') return skip_string(s, i);
  if (c != '{' && c != '[') {
    std::size_t j = i;
    while (j < s.size() && scalar_char(s[j])) ++j;
    return j == i ? npos : j;
  }
  std::string closers;  // what each open bracket expects
  while (i < s.size()) {
    const char d = s[i];
    if (d == '"') {
      i = skip_string(s, i);
      if (i == npos) return npos;
      continue;
    }
    if (d == '{' || d == '[') {
      closers.push_back(d == '{' ? '}' : ']');
    } else if (d == '}' || d == ']') {
      if (closers.empty() || closers.back() != d) return npos;
      closers.pop_back();
      if (closers.empty()) return i + 1;
    }
    ++i;
  }
  return npos;
}

// The value of member `key` of the object starting at `i` (its raw key compared), or npos.
std::size_t member(std::string_view s, std::size_t i, std::string_view key) noexcept {
  if (i >= s.size() || s[i] != '{') return npos;
  i = skip_space(s, i + 1);
  while (i < s.size() && s[i] == '"') {
    const std::size_t key_end = skip_string(s, i);
    if (key_end == npos) return npos;
    const std::string_view k = s.substr(i + 1, key_end - i - 2);
    i = skip_space(s, key_end);
    if (i >= s.size() || s[i] != ':') return npos;
    i = skip_space(s, i + 1);
    if (k == key) return i;
    i = skip_value(s, i);
    if (i == npos) return npos;
    i = skip_space(s, i);
    if (i < s.size() && s[i] == ',') i = skip_space(s, i + 1);
  }
  return npos;
}

struct located {
  std::vector<std::pair<std::size_t, std::size_t>> items;  // [begin, end) of each
  std::size_t depth = 0;                                   // containers around an item
};

std::optional<located> locate(std::string_view s, std::string_view pointer) {
  located out;
  std::size_t i = skip_space(s, 0);
  while (!pointer.empty()) {
    pointer.remove_prefix(1);  // '/'
    const std::size_t slash = pointer.find('/');
    const std::string_view key = pointer.substr(0, slash);
    pointer = slash == npos ? std::string_view{} : pointer.substr(slash);
    i = member(s, i, key);
    if (i == npos) return std::nullopt;
    ++out.depth;
  }
  if (i >= s.size() || s[i] != '[') return std::nullopt;
  ++out.depth;
  i = skip_space(s, i + 1);
  while (i < s.size() && s[i] != ']') {
    const std::size_t end = skip_value(s, i);
    if (end == npos) return std::nullopt;
    out.items.emplace_back(i, end);
    i = skip_space(s, end);
    if (i < s.size() && s[i] == ',') i = skip_space(s, i + 1);
  }
  if (i >= s.size()) return std::nullopt;
  return out;
}

std::string id_of(std::string_view page, std::string_view item, const item_layout& layout) {
  if (layout.name) return layout.name(page, item);
  if (layout.id_field.empty()) return {};
  std::string raw = raw_member(item, layout.id_field);
  return raw.empty() ? raw : layout.id_prefix + raw;
}

std::string reason_of(simdjson::error_code err, std::size_t max_depth) {
  switch (err) {
    case simdjson::UTF8_ERROR: return "holds bytes that are not valid UTF-8";
    case simdjson::STRING_ERROR:
      return "holds a string that cannot be read (a lone surrogate escape such as \\ud800, or a bad escape)";
    case simdjson::DEPTH_ERROR: return fmt::format("is nested deeper than {} levels", max_depth);
    default: return fmt::format("is not valid JSON ({})", simdjson::error_message(err));
  }
}

}  // namespace

std::string raw_member(std::string_view object, std::string_view key) {
  const std::size_t at = member(object, 0, key);
  if (at == npos) return {};
  std::string_view raw;
  if (object[at] == '"') {
    const std::size_t end = skip_string(object, at);
    if (end == npos) return {};
    raw = object.substr(at + 1, end - at - 2);
  } else {
    std::size_t end = at;
    while (end < object.size() && object[end] >= '0' && object[end] <= '9') ++end;
    raw = object.substr(at, end - at);
  }
  if (valid_utf8(raw)) return std::string(raw);
  std::string out;
  for (char c : raw)
    if (c >= 0x20 && c < 0x7f) out.push_back(c);
  return out;
}

bool structure_whole(std::string_view body) noexcept {
  const std::size_t end = skip_value(body, skip_space(body, 0));
  return end != npos && skip_space(body, end) == body.size();
}

bool mend_items(std::string_view body, const item_layout& layout, std::string& mended,
                std::vector<unreadable_item>& bad) {
  if (!layout.known() || !structure_whole(body)) return false;
  const std::optional<located> where = locate(body, layout.items_pointer);
  if (!where) return false;
  // An item may nest as deep as the parser allows, less the containers the page puts around it.
  const std::size_t max_depth = simdjson::DEFAULT_MAX_DEPTH - where->depth;
  thread_local simdjson::dom::parser parser;
  const std::size_t bad_before = bad.size();
  mended.clear();
  std::size_t copied = 0;
  std::string item;
  for (std::size_t n = 0; n < where->items.size(); ++n) {
    const auto [begin, end] = where->items[n];
    item.assign(body.substr(begin, end - begin));
    if (parser.allocate(item.size(), max_depth)) return false;
    simdjson::dom::element ignored;
    const simdjson::error_code err = parser.parse(item).get(ignored);
    if (!err) continue;
    bad.push_back({n, id_of(body, item, layout), reason_of(err, max_depth)});
    mended.append(body.substr(copied, begin - copied)).append("null");
    copied = end;
  }
  mended.append(body.substr(copied));
  simdjson::dom::parser check;
  simdjson::dom::element root;
  if (bad.size() == bad_before || check.parse(mended).get(root)) {
    bad.resize(bad_before);
    return false;
  }
  return true;
}

bool whole_answer(const std::string& body) {
  // The HTTP engine's thread checks a page here and lets it go. A parser sized for a page (its
  // buffers past the 1 MB mmap threshold of pipeline.cpp) is kept for the next page within the
  // run's allowance of idle buffers (core/kept_buffers.hpp), freed otherwise; small answers keep
  // theirs whatever the allowance.
  struct kept_parser {
    simdjson::dom::parser parser;
    kept_buffers::charge kept;  // while it waits for the next answer
  };
  thread_local kept_parser mine;
  simdjson::dom::parser& parser = mine.parser;
  mine.kept.drop();  // in use
  simdjson::dom::element root;
  const simdjson::error_code err = parse_padded(parser, body, root);
  if (parser.capacity() > kept_parser_capacity) {
    mine.kept = kept_buffers::charge::try_take(kept_buffers::parser_footprint(parser.capacity()));
    if (!mine.kept) parser = simdjson::dom::parser{};
  }
  switch (err) {
    case simdjson::SUCCESS: return true;
    case simdjson::UTF8_ERROR:
    case simdjson::STRING_ERROR:
    case simdjson::DEPTH_ERROR: return structure_whole(body);
    default: return false;
  }
}

const std::string& readable(const std::string& body, const item_layout& layout, std::string& scratch,
                            std::vector<unreadable_item>& bad) {
  if (!layout.known()) return body;
  simdjson::dom::element root;
  if (!parse_page_to_hand_over(body, root) || !mend_items(body, layout, scratch, bad)) return body;
  scratch.reserve(scratch.size() + simdjson::SIMDJSON_PADDING);
  return scratch;
}

}  // namespace backfill::json
