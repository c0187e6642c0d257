#include "backfill/core/json.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstring>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif
#include <string>
#include <utility>
#include <vector>

#include <fmt/format.h>
#include <simdjson.h>

#include "backfill/core/errors.hpp"
#include "backfill/core/json_tree.hpp"
#include "backfill/core/padded_json.hpp"

namespace backfill::json {
namespace {

// Length of the valid UTF-8 sequence starting at s[i], or 0 when it is invalid.
std::size_t utf8_sequence(std::string_view s, std::size_t i) noexcept {
  auto b = [&](std::size_t k) { return static_cast<unsigned char>(s[k]); };
  unsigned char c = b(i);
  if (c < 0x80) return 1;
  std::size_t n = s.size();
  auto cont = [&](std::size_t k) { return k < n && (b(k) & 0xC0) == 0x80; };
  if (c >= 0xC2 && c <= 0xDF) return cont(i + 1) ? 2 : 0;
  if (c >= 0xE0 && c <= 0xEF) {
    if (!cont(i + 1) || !cont(i + 2)) return 0;
    unsigned char c1 = b(i + 1);
    if (c == 0xE0 && c1 < 0xA0) return 0;  // overlong
    if (c == 0xED && c1 > 0x9F) return 0;  // surrogates
    return 3;
  }
  if (c >= 0xF0 && c <= 0xF4) {
    if (!cont(i + 1) || !cont(i + 2) || !cont(i + 3)) return 0;
    unsigned char c1 = b(i + 1);
    if (c == 0xF0 && c1 < 0x90) return 0;
    if (c == 0xF4 && c1 > 0x8F) return 0;
    return 4;
  }
  return 0;
}

// A parsed document as a json_tree. simdjson keeps every key and string alive as long as the
// parser's document, so nothing needs keeping. Each value is copied out of its simdjson_result
// before use: the result is a temporary, and a reference into it would dangle.
struct parsed_tree {
  using node = simdjson::dom::element;
  using mark = int;
  value_kind kind_of(node e) const {
    using simdjson::dom::element_type;
    switch (e.type()) {
      case element_type::OBJECT: return value_kind::object;
      case element_type::ARRAY: return value_kind::array;
      case element_type::STRING: return value_kind::string;
      case element_type::BOOL:
        return e.get_bool().value_unsafe() ? value_kind::boolean_true : value_kind::boolean_false;
      case element_type::NULL_VALUE: return value_kind::null;
      default: return value_kind::number;
    }
  }
  bool text(node e, std::string_view& s) const { return !e.get(s); }
  bool number(std::string& out, node e) const {
    double v = 0;
    if (std::int64_t i = 0; e.is_int64() && !e.get(i)) {
      v = static_cast<double>(i);
    } else if (std::uint64_t u = 0; e.is_uint64() && !e.get(u)) {
      v = static_cast<double>(u);
    } else if (e.get(v)) {
      return false;
    }
    append_number(out, v);
    return true;
  }
  bool members(node e, std::vector<std::pair<std::string_view, node>>& fields) const {
    simdjson::dom::object obj;
    if (e.get(obj)) return false;
    for (auto field : obj) fields.emplace_back(field.key, field.value);
    return true;
  }
  template <class F>
  bool elements(node e, F&& each) const {
    simdjson::dom::array arr;
    if (e.get(arr)) return false;
    for (simdjson::dom::element v : arr)
      if (!each(v)) return false;
    return true;
  }
  mark keep() const { return 0; }
  void release(mark) const {}
};

}  // namespace

std::size_t replace_nul_escapes(std::string& json, std::size_t from) {
  static constexpr std::string_view nul = "\\u0000";
  std::size_t replaced = 0;
  for (std::size_t i = json.find(nul, from); i != std::string::npos; i = json.find(nul, i + 1)) {
    std::size_t run = 0;
    while (i - run > from && json[i - 1 - run] == '\\') ++run;
    if (run % 2 == 0) {
      json.replace(i, nul.size(), "\xEF\xBF\xBD");
      ++replaced;
    }
  }
  return replaced;
}

bool valid_utf8(std::string_view s) noexcept { return simdjson::validate_utf8(s.data(), s.size()); }

std::string_view utf8_prefix(std::string_view s, std::size_t max_bytes) noexcept {
  if (s.size() <= max_bytes) return s;
  std::size_t end = max_bytes;
  // Step back over continuation bytes to the start of the code point that would be cut.
  while (end > 0 && (static_cast<unsigned char>(s[end]) & 0xC0) == 0x80) --end;
  return s.substr(0, end);
}

// Bytes that need nothing (printable ASCII but '"' and '\\', and valid UTF-8 sequences) are
// appended a run at a time; the rest one by one.
namespace {

// The number of plain bytes at the start of `p`, which holds at least 16: append_string copies
// those as they are and looks at the next one alone. Plain is anything but a control byte, '"' and
// '\\', and, unless the text is known to be valid UTF-8 (`high_is_plain`), bytes from 0x80.
inline std::size_t plain_prefix16(const char* p, bool high_is_plain) noexcept {
#if defined(__SSE2__)
  __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
  // Below 0x20 unsigned: min(v, 0x1f) == v. As signed bytes, 0x80 and up are below 0x20 too.
  __m128i low = high_is_plain ? _mm_cmpeq_epi8(_mm_min_epu8(v, _mm_set1_epi8(0x1F)), v)
                              : _mm_cmplt_epi8(v, _mm_set1_epi8(0x20));
  __m128i special = _mm_or_si128(
      low, _mm_or_si128(_mm_cmpeq_epi8(v, _mm_set1_epi8('"')), _mm_cmpeq_epi8(v, _mm_set1_epi8('\\'))));
  unsigned mask = static_cast<unsigned>(_mm_movemask_epi8(special));
  return mask ? static_cast<std::size_t>(__builtin_ctz(mask)) : 16;
#else
  // Eight bytes at a time (SWAR); each test is exact, with no false positives.
  constexpr std::uint64_t ones = 0x0101010101010101ull, highs = 0x8080808080808080ull;
  auto has_zero = [](std::uint64_t v) { return (v - ones) & ~v & highs; };
  for (std::size_t at = 0; at < 16; at += 8) {
    std::uint64_t x;
    std::memcpy(&x, p + at, 8);
    std::uint64_t below_space = (x - ones * 0x20) & ~x & highs;
    std::uint64_t high = high_is_plain ? 0 : (x & highs);
    if (high | below_space | has_zero(x ^ (ones * '"')) | has_zero(x ^ (ones * '\\'))) return at;
  }
  return 16;
#endif
}

}  // namespace

void append_string(std::string& out, std::string_view s) {
  static const char* hex = "0123456789abcdef";
  out.push_back('"');
  std::size_t run = 0;  // start of the bytes not yet appended
  std::size_t i = 0;
  // At the first byte from 0x80, the rest of the text is validated at once (simdjson, SIMD): when
  // it is valid UTF-8, as text from Python or a parsed document is, its bytes from 0x80 are plain
  // and only control bytes and quotes stop the scan; otherwise each sequence is checked alone.
  bool checked = false, valid = false;
  while (i < s.size()) {
    // Sixteen bytes at a time: most text has nothing to escape.
    if (i + 16 <= s.size()) {
      std::size_t plain = plain_prefix16(s.data() + i, valid);
      i += plain;
      if (plain == 16) continue;
    }
    unsigned char c = static_cast<unsigned char>(s[i]);
    if (c >= 0x20 && c < 0x80 && c != '"' && c != '\\') {
      ++i;
      continue;
    }
    if (c >= 0x80) {
      if (!checked) {
        checked = true;
        valid = valid_utf8(s.substr(i));  // what came before is ASCII: i starts a sequence
      }
      if (valid) {
        ++i;
        continue;
      }
      if (std::size_t n = utf8_sequence(s, i)) {
        i += n;
        continue;
      }
    }
    out.append(s.data() + run, i - run);
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      case '\b': out += "\\b"; break;
      case '\f': out += "\\f"; break;
      default:
        if (c < 0x20) {
          out += "\\u00";
          out.push_back(hex[c >> 4]);
          out.push_back(hex[c & 15]);
        } else {
          out += "\xEF\xBF\xBD";  // U+FFFD for a byte that starts no valid sequence
        }
    }
    run = ++i;
  }
  out.append(s.data() + run, s.size() - run);
  out.push_back('"');
}

void append_number(std::string& out, double v) {
  if (!std::isfinite(v)) {
    out += "null";
    return;
  }
  if (v == std::floor(v) && std::fabs(v) < 9.007199254740992e15) {
    fmt::format_to(std::back_inserter(out), "{}", static_cast<long long>(v));
    return;
  }
  fmt::format_to(std::back_inserter(out), "{}", v);  // shortest round-trip form
}

std::string canonicalize(std::string_view text) {
  thread_local simdjson::dom::parser parser;
  simdjson::padded_string padded(text);
  simdjson::dom::element root;
  auto err = parser.parse(padded).get(root);
  if (err) throw error(std::string("invalid JSON: ") + simdjson::error_message(err));
  std::string out;
  out.reserve(text.size());
  if (!append_canonical(out, root)) throw error("invalid JSON value");
  return out;
}

bool append_canonical(std::string& out, simdjson::dom::element value) {
  parsed_tree tree;
  return write_canonical(out, tree, value, simdjson::DEFAULT_MAX_DEPTH);
}

void append_float_repr(std::string& out, double d) {
  char buf[32];
  char* end = std::to_chars(buf, buf + sizeof buf, d, std::chars_format::scientific).ptr;
  // buf holds [-]d[.ddd]e(+|-)dd[d]: split it into sign, digits and decimal exponent.
  const char* p = buf;
  if (*p == '-') {
    out.push_back('-');
    ++p;
  }
  char digits[24];
  int count = 0;
  for (; *p != 'e'; ++p)
    if (*p != '.') digits[count++] = *p;
  ++p;  // 'e'
  bool negative_exponent = *p == '-';
  ++p;  // the exponent's sign, always written
  int exponent = 0;
  std::from_chars(p, end, exponent);
  if (negative_exponent) exponent = -exponent;
  const int point = exponent + 1;   // the digits are 0.ddd x 10^point
  if (point > -4 && point <= 16) {  // float_repr_style 'r': fixed notation in this range
    if (point <= 0) {
      out += "0.";
      out.append(static_cast<std::size_t>(-point), '0');
      out.append(digits, static_cast<std::size_t>(count));
    } else if (point >= count) {
      out.append(digits, static_cast<std::size_t>(count));
      out.append(static_cast<std::size_t>(point - count), '0');
      out += ".0";
    } else {
      out.append(digits, static_cast<std::size_t>(point));
      out.push_back('.');
      out.append(digits + point, static_cast<std::size_t>(count - point));
    }
    return;
  }
  out.push_back(digits[0]);
  if (count > 1) {
    out.push_back('.');
    out.append(digits + 1, static_cast<std::size_t>(count - 1));
  }
  out.push_back('e');
  out.push_back(exponent < 0 ? '-' : '+');
  int magnitude = exponent < 0 ? -exponent : exponent;
  if (magnitude < 10) out.push_back('0');  // at least two digits, as printf's %e
  char e[8];
  out.append(e, static_cast<std::size_t>(std::to_chars(e, e + sizeof e, magnitude).ptr - e));
}

void append_floats(std::string& out, const std::vector<float>& values) {
  // Written straight into `out`: 16 bytes hold any float32's shortest form and its comma.
  std::size_t at = out.size();
  out.resize(at + values.size() * 16 + 2);
  char* p = out.data() + at;
  char* end = out.data() + out.size();
  for (std::size_t i = 0; i < values.size(); ++i) {
    if (i) *p++ = ',';
    p = std::to_chars(p, end, values[i]).ptr;
  }
  out.resize(static_cast<std::size_t>(p - out.data()));
}

namespace {

// Whether 8 code units from `p` are all ASCII: 1, 2 or 4 words of 64 bits, masked.
template <typename Unit>
bool ascii8(const Unit* p) noexcept {
  constexpr std::uint64_t mask = sizeof(Unit) == 1   ? 0x8080808080808080ull
                                 : sizeof(Unit) == 2 ? 0xFF80FF80FF80FF80ull
                                                     : 0xFFFFFF80FFFFFF80ull;
  std::uint64_t any = 0;
  for (std::size_t k = 0; k < sizeof(Unit); ++k) {
    std::uint64_t w;
    std::memcpy(&w, reinterpret_cast<const char*>(p) + 8 * k, 8);
    any |= w;
  }
  return (any & mask) == 0;
}

template <typename Unit>
char* encode_units(const Unit* p, std::size_t n, char* out) noexcept {
  std::size_t i = 0;
  while (i < n) {
    std::size_t stop = n;
    if (i + 8 <= n) {
      if (ascii8(p + i)) {
        for (int k = 0; k < 8; ++k) out[k] = static_cast<char>(p[i + k]);
        out += 8;
        i += 8;
        continue;
      }
      stop = i + 8;  // these 8 one by one, then look for ASCII again
    }
    for (; i < stop; ++i) {
      std::uint32_t c = p[i];
      if (c < 0x80) {
        *out++ = static_cast<char>(c);
      } else if (c < 0x800) {
        *out++ = static_cast<char>(0xC0 | (c >> 6));
        *out++ = static_cast<char>(0x80 | (c & 0x3F));
      } else if (c < 0x10000) {
        if (c >= 0xD800 && c <= 0xDFFF) return nullptr;
        *out++ = static_cast<char>(0xE0 | (c >> 12));
        *out++ = static_cast<char>(0x80 | ((c >> 6) & 0x3F));
        *out++ = static_cast<char>(0x80 | (c & 0x3F));
      } else {
        *out++ = static_cast<char>(0xF0 | (c >> 18));
        *out++ = static_cast<char>(0x80 | ((c >> 12) & 0x3F));
        *out++ = static_cast<char>(0x80 | ((c >> 6) & 0x3F));
        *out++ = static_cast<char>(0x80 | (c & 0x3F));
      }
    }
  }
  return out;
}

}  // namespace

char* encode_utf8(const std::uint8_t* units, std::size_t n, char* out) noexcept {
  return encode_units(units, n, out);
}
char* encode_utf8(const std::uint16_t* units, std::size_t n, char* out) noexcept {
  return encode_units(units, n, out);
}
char* encode_utf8(const std::uint32_t* units, std::size_t n, char* out) noexcept {
  return encode_units(units, n, out);
}
bool encode_utf8(const void* units, int width, std::size_t n, std::string& scratch, std::string_view& out) {
  const std::size_t room = n * (width == 1 ? 2 : width == 2 ? 3 : 4);
  if (scratch.size() < room) scratch.resize(room);
  char* end = width == 1   ? encode_units(static_cast<const std::uint8_t*>(units), n, scratch.data())
              : width == 2 ? encode_units(static_cast<const std::uint16_t*>(units), n, scratch.data())
                           : encode_units(static_cast<const std::uint32_t*>(units), n, scratch.data());
  if (!end) return false;
  out = std::string_view(scratch.data(), static_cast<std::size_t>(end - scratch.data()));
  return true;
}

}  // namespace backfill::json
