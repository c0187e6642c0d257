// Telling a page's items apart without parsing them: a scanner of the JSON structure that skips
// strings by their quotes and escapes (their bytes unchecked) and brackets by count (no depth limit),
// so an item that simdjson refuses is found, named and left out while the rest of the page reads.
#include "backfill/core/json_items.hpp"

#include <algorithm>
#include <charconv>
#include <cstdint>
#include <memory>
#include <optional>
#include <utility>
#include <vector>

#include <fmt/format.h>
#include <simdjson.h>

#include "backfill/core/json.hpp"
#include "backfill/core/padded_json.hpp"
#include "kept_stage1.hpp"

namespace backfill::json {
namespace {

constexpr std::size_t npos = std::string_view::npos;

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

namespace {

// What may follow a scalar: white space or a structural character (not a quote: stage 1 does not
// index a quote that follows a scalar, and a parse refuses the scalar).
bool scalar_end(char c) noexcept {
  return space(c) || c == ',' || c == ':' || c == '}' || c == ']' || c == '{' || c == '[';
}

// A JSON number starting at `p`: -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)?, ended by the body's
// end or scalar_end, and one simdjson reads: an integer within 64 bits (signed when negative), a
// finite double.
bool number_at(const char* p, const char* end) noexcept {
  const char* const start = p;
  const auto digit = [&](const char* q) { return q < end && *q >= '0' && *q <= '9'; };
  const bool negative = p < end && *p == '-';
  if (negative) ++p;
  if (!digit(p)) return false;
  const char* const int_start = p;
  if (*p == '0')
    ++p;
  else
    while (digit(p)) ++p;
  const auto int_digits = p - int_start;
  bool fraction = false, exponent = false;
  std::int64_t magnitude = *int_start == '0' ? -1 : int_digits - 1;  // the value's power of ten, about
  if (p < end && *p == '.') {
    fraction = true;
    if (!digit(++p)) return false;
    const bool zero = *int_start == '0';
    bool leading = zero;
    while (digit(p)) {
      if (leading && *p == '0') --magnitude;
      leading = leading && *p == '0';
      ++p;
    }
  }
  if (p < end && (*p == 'e' || *p == 'E')) {
    exponent = true;
    ++p;
    const bool minus = p < end && *p == '-';
    if (p < end && (*p == '+' || *p == '-')) ++p;
    if (!digit(p)) return false;
    std::int64_t e = 0;
    while (digit(p)) {
      if (e < 100000) e = e * 10 + (*p - '0');
      ++p;
    }
    magnitude += minus ? -e : e;
  }
  if (p != end && !scalar_end(*p)) return false;
  if (!fraction && !exponent) {
    if (int_digits < 19) return true;
    if (negative) {
      std::int64_t v = 0;
      return std::from_chars(start, p, v).ec == std::errc();
    }
    std::uint64_t v = 0;
    return std::from_chars(start, p, v).ec == std::errc();
  }
  if (magnitude < 307) return true;  // below DBL_MAX whatever the digits
  double v = 0;
  return std::from_chars(start, p, v).ec == std::errc();  // out of range here is an overflow
}

bool atom_at(const char* p, const char* end, std::string_view atom) noexcept {
  if (static_cast<std::size_t>(end - p) < atom.size() || std::string_view(p, atom.size()) != atom)
    return false;
  p += atom.size();
  return p == end || scalar_end(*p);
}

}  // namespace

// The grammar of JSON over the structural characters stage 1 found (and the first byte of every
// scalar): what simdjson's stage 2 checks, without building a tape or copying strings. Strings'
// contents are not checked (stage 1 found where each ends and that the text is UTF-8); a parse
// reports what is wrong inside one, and mend_items reads around it.
shape grammar(const char* buf, std::size_t len, const std::uint32_t* at, std::size_t n,
              std::size_t max_depth) {
  std::vector<char> open(max_depth);  // the open containers' closing characters, innermost last
  std::size_t depth = 0;
  const char* end = buf + len;
  std::size_t i = 0;
  const auto at_char = [&](std::size_t k) { return k < n ? buf[at[k]] : '\0'; };
value:
  if (i >= n) return shape::broken;
  switch (buf[at[i]]) {
    case '{':
      if (at_char(i + 1) == '}') {
        i += 2;
        goto after_value;
      }
      if (depth == max_depth) return shape::too_deep;
      open[depth++] = '}';
      ++i;
      goto key;
    case '[':
      if (at_char(i + 1) == ']') {
        i += 2;
        goto after_value;
      }
      if (depth == max_depth) return shape::too_deep;
      open[depth++] = ']';
      ++i;
      goto value;
    case '"': ++i; goto after_value;
    case 't':
      if (!atom_at(buf + at[i], end, "true")) return shape::broken;
      ++i;
      goto after_value;
    case 'f':
      if (!atom_at(buf + at[i], end, "false")) return shape::broken;
      ++i;
      goto after_value;
    case 'n':
      if (!atom_at(buf + at[i], end, "null")) return shape::broken;
      ++i;
      goto after_value;
    default:
      if (!number_at(buf + at[i], end)) return shape::broken;
      ++i;
      goto after_value;
  }
key:
  if (at_char(i) != '"' || at_char(i + 1) != ':') return shape::broken;
  i += 2;
  goto value;
after_value:
  if (depth == 0) return i == n ? shape::whole : shape::broken;
  if (at_char(i) == ',') {
    ++i;
    if (open[depth - 1] == ']') goto value;
    goto key;
  }
  if (at_char(i) != open[depth - 1]) return shape::broken;
  --depth;
  ++i;
  goto after_value;
}

bool whole_answer(const std::string& body, std::shared_ptr<text_index>* keep) {
  // The HTTP engine's thread checks every page here and lets it go; its reader walks or parses it
  // next. So only simdjson's stage 1 runs (UTF-8, where strings end, where every structural character
  // and scalar is), at several times a full parse's speed, and the grammar is walked over what it
  // found; nothing is built. The index goes on with the page in `keep` (the reader's walk reads it,
  // http::response_pool keeps it for a later page); without `keep`, this thread's index is kept for
  // the next answer within the run's allowance of idle buffers (core/kept_buffers.hpp).
  thread_local kept_stage1 mine;
  const std::size_t len = body.size();
  std::string padded;  // only for a body without simdjson's padding (not the engine's)
  const char* buf = body.data();
  if (body.capacity() < len + simdjson::SIMDJSON_PADDING) {
    padded.reserve(len + simdjson::SIMDJSON_PADDING);
    padded.assign(body);
    buf = padded.data();
  }
  const bool hand_on = keep != nullptr && buf == body.data();
  if (hand_on && !*keep) *keep = std::make_shared<text_index>();
  text_index& index = hand_on ? **keep : mine.use();
  const simdjson::error_code err = index.index(buf, len);
  shape verdict = shape::broken;
  if (err == simdjson::SUCCESS)
    verdict = grammar(buf, len, index.at(), index.count(), simdjson::DEFAULT_MAX_DEPTH);
  if (!hand_on) {
    mine.let_go();
  } else if (err == simdjson::MEMALLOC) {
    keep->reset();
  } else if (verdict != shape::whole) {
    index.forget();  // no walk reads a body that is not whole
  }
  // No memory for the index: the slower scan, which needs none; the others for what it tells apart.
  if (err == simdjson::MEMALLOC || err == simdjson::UTF8_ERROR || verdict == shape::too_deep)
    return structure_whole(body);
  return verdict == shape::whole;
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
