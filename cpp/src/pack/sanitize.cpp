#include "backfill/pack/sanitize.hpp"

#include <algorithm>
#include <cmath>
#include <variant>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include <simdjson.h>

#include "backfill/core/document.hpp"
#include "backfill/core/errors.hpp"
#include "backfill/core/hash.hpp"
#include "backfill/core/json.hpp"

namespace backfill {

void sanitize_report::merge(const sanitize_report& o) {
  for (auto& [k, v] : o.truncated) truncated[k] += v;
  for (auto& [k, v] : o.dropped) dropped[k] += v;
  for (auto& [k, v] : o.flattened) flattened[k] += v;
  for (auto& [k, v] : o.converted) converted[k] += v;
}

namespace {

using value = meta_value;

struct field {
  std::string key;
  value v;
  std::size_t bytes = 0;  // serialized: "key":value
};

std::size_t string_bytes(std::string_view s) {
  std::string tmp;
  json::append_string(tmp, s);
  return tmp.size();
}

std::string value_json(const value& v) {
  std::string out;
  append_json(out, v);
  return out;
}

void measure(field& f) { f.bytes = string_bytes(f.key) + 1 + value_json(f.v).size(); }

std::size_t total_bytes(const std::vector<field>& fs) {
  std::size_t n = 2;  // {}
  for (const auto& f : fs) n += f.bytes;
  return n + (fs.empty() ? 0 : fs.size() - 1);  // commas
}

void collect(simdjson::dom::element e, const std::string& key, const std::string& top,
             std::vector<field>& out, sanitize_report& report) {
  using simdjson::dom::element_type;
  switch (e.type()) {
    case element_type::NULL_VALUE: ++report.dropped[key]; return;
    case element_type::STRING: {
      std::string_view s;
      if (!e.get(s)) out.push_back({key, std::string(s), 0});
      return;
    }
    case element_type::BOOL: {
      bool b = false;
      if (!e.get(b)) out.push_back({key, b, 0});
      return;
    }
    case element_type::INT64:
    case element_type::UINT64:
    case element_type::DOUBLE: {
      double d = 0;
      if (e.get(d) || !std::isfinite(d)) {
        ++report.dropped[key];
        return;
      }
      out.push_back({key, d, 0});
      return;
    }
    case element_type::OBJECT: {
      simdjson::dom::object obj;
      if (e.get(obj)) return;
      if (key == top) ++report.flattened[top];
      for (auto kv : obj) collect(kv.value, key + "." + std::string(kv.key), top, out, report);
      return;
    }
    case element_type::ARRAY: {
      simdjson::dom::array arr;
      if (e.get(arr)) return;
      std::vector<std::string> items;
      bool converted = false;
      for (simdjson::dom::element item : arr) {
        std::string_view s;
        if (item.type() == element_type::STRING && !item.get(s)) {
          items.emplace_back(s);
        } else if (item.type() == element_type::NULL_VALUE) {
          converted = true;
        } else {
          items.push_back(json::canonicalize(simdjson::minify(item)));
          converted = true;
        }
      }
      if (converted) ++report.converted[key];
      out.push_back({key, std::move(items), 0});
      return;
    }
  }
}

// Shortens field `f` by at least `excess` serialized bytes; false when it cannot (then drop it).
bool shorten(field& f, std::size_t excess) {
  if (auto* s = std::get_if<std::string>(&f.v)) {
    std::size_t current = f.bytes;
    if (excess >= current) return false;
    std::size_t target = current - excess;               // serialized bytes allowed for the whole field
    std::size_t overhead = string_bytes(f.key) + 1 + 2;  // key, colon, quotes
    if (target <= overhead) return false;
    std::size_t raw = std::min(s->size(), target - overhead);
    while (true) {
      std::string_view cut = json::utf8_prefix(*s, raw);
      std::size_t need = overhead - 2 + string_bytes(cut);
      if (need <= target) {
        if (cut.empty()) return false;
        *s = std::string(cut);
        measure(f);
        return true;
      }
      std::size_t over = need - target;
      if (over >= raw) return false;
      raw -= std::max<std::size_t>(over, 1);
    }
  }
  if (auto* list = std::get_if<std::vector<std::string>>(&f.v)) {
    while (!list->empty()) {
      std::size_t before = f.bytes;
      list->pop_back();
      measure(f);
      if (before - f.bytes >= excess) return !list->empty();
      excess -= before - f.bytes;
    }
    return false;
  }
  return false;  // numbers and booleans cannot be shortened
}

// Where the next "null" in `s` from `from` starts (npos when none): 16 starting positions at a time.
// (Metadata text is full of the letter n, and std::string::find stops at every one.)
std::size_t find_null(std::string_view s, std::size_t from) {
  std::size_t i = from;
#if defined(__SSE2__)
  const __m128i n = _mm_set1_epi8('n'), u = _mm_set1_epi8('u'), l = _mm_set1_epi8('l');
  for (; i + 19 <= s.size(); i += 16) {
    auto at = [&](std::size_t k) {
      return _mm_loadu_si128(reinterpret_cast<const __m128i*>(s.data() + i + k));
    };
    __m128i hit = _mm_and_si128(_mm_and_si128(_mm_cmpeq_epi8(at(0), n), _mm_cmpeq_epi8(at(1), u)),
                                _mm_and_si128(_mm_cmpeq_epi8(at(2), l), _mm_cmpeq_epi8(at(3), l)));
    if (const int mask = _mm_movemask_epi8(hit)) return i + static_cast<std::size_t>(__builtin_ctz(mask));
  }
#endif
  return s.find("null", i);
}

// Whether what starts at `at` stands where a JSON value does: after ':', ',' or '[' (and whitespace).
// Inside a string, a letter, digit or space comes before a word or a brace far more often.
bool at_value(std::string_view s, std::size_t at) {
  while (at > 0 && (s[at - 1] == ' ' || s[at - 1] == '\n' || s[at - 1] == '\r' || s[at - 1] == '\t')) --at;
  if (at == 0) return true;
  const char c = s[at - 1];
  return c == ':' || c == ',' || c == '[';
}

// Whether the metadata may hold a null value or a nested object, which only a parse can tell and fit.
// Every such value stands where at_value() says; the word null or a brace inside a text costs the
// parse only where it follows one of those characters too (a code snippet's "x = {" does not).
bool may_hold_null_or_object(std::string_view s) {
  for (std::size_t at = find_null(s, 0); at != std::string_view::npos; at = find_null(s, at + 1))
    if (at_value(s, at)) return true;
  for (std::size_t at = s.find('{', 1); at != std::string_view::npos; at = s.find('{', at + 1))
    if (at_value(s, at)) return true;
  return false;
}

}  // namespace

bool fit_metadata(std::string& json, const sanitize_options& options, sanitize_report& report) {
  // A quick look first: canonical, flat, null-free metadata within the limit (what the pipeline
  // builds) passes unparsed. A null or a brace that a text holds after ':', ',' or '[' only costs a
  // pass that changes nothing.
  if (json.empty()) return true;
  const bool suspicious = json.size() > options.max_bytes || may_hold_null_or_object(json);
  if (!suspicious) return true;
  auto fitted = sanitize_metadata(json, options, report);
  if (!fitted) return false;
  if (*fitted != json) json = std::move(*fitted);
  return true;
}

std::optional<std::string> sanitize_metadata(std::string_view text, const sanitize_options& options,
                                             sanitize_report& report) {
  thread_local simdjson::dom::parser parser;
  simdjson::padded_string padded(text);
  simdjson::dom::element root;
  simdjson::dom::object obj;
  if (parser.parse(padded).get(root) || root.get(obj)) throw error("metadata must be a JSON object");

  std::vector<field> fields;
  for (auto kv : obj) {
    std::string key(kv.key);
    collect(kv.value, key, key, fields, report);
  }
  // Canonical order; on a key collision (a flattened "a.b" meeting a literal "a.b") the first wins.
  std::stable_sort(fields.begin(), fields.end(),
                   [](const field& a, const field& b) { return a.key < b.key; });
  std::vector<field> unique;
  for (auto& f : fields) {
    if (!unique.empty() && unique.back().key == f.key) {
      ++report.dropped[f.key];
      continue;
    }
    unique.push_back(std::move(f));
  }
  fields = std::move(unique);
  for (auto& f : fields) measure(f);

  std::size_t size = total_bytes(fields);
  if (size > options.max_bytes) {
    auto rank = [&](const std::string& key) -> std::pair<int, std::size_t> {
      for (std::size_t i = 0; i < options.truncate_first.size(); ++i)
        if (options.truncate_first[i] == key) return {0, i};
      for (std::size_t i = 0; i < options.identity.size(); ++i)
        if (options.identity[i] == key) return {2, i};
      return {1, 0};
    };
    std::vector<std::size_t> order(fields.size());
    for (std::size_t i = 0; i < order.size(); ++i) order[i] = i;
    std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) {
      auto ra = rank(fields[a].key), rb = rank(fields[b].key);
      if (ra.first != rb.first) return ra.first < rb.first;
      if (ra.first == 1) return fields[a].bytes > fields[b].bytes;  // longest first
      return ra.second < rb.second;
    });
    std::vector<bool> gone(fields.size(), false);
    for (std::size_t idx : order) {
      if (size <= options.max_bytes) break;
      field& f = fields[idx];
      std::size_t excess = size - options.max_bytes;
      std::size_t before = f.bytes;
      if (shorten(f, excess)) {
        ++report.truncated[f.key];
        size -= before - f.bytes;
      } else if (rank(f.key).first == 2) {
        return std::nullopt;  // a record without its identity is worse than a record reported as skipped
      } else {
        gone[idx] = true;
        ++report.dropped[f.key];
        size -= before + 1;  // the field and its comma
      }
    }
    std::vector<field> kept;
    for (std::size_t i = 0; i < fields.size(); ++i)
      if (!gone[i]) kept.push_back(std::move(fields[i]));
    fields = std::move(kept);
    size = total_bytes(fields);
    if (size > options.max_bytes) return std::nullopt;
  }
  std::string out = "{";
  for (std::size_t i = 0; i < fields.size(); ++i) {
    if (i) out.push_back(',');
    json::append_string(out, fields[i].key);
    out.push_back(':');
    out += value_json(fields[i].v);
  }
  out.push_back('}');
  return out;
}

std::string fit_id(std::string_view id, std::size_t max_bytes) {
  if (id.size() <= max_bytes || max_bytes == 0) return std::string(id);
  std::string suffix = "~";
  suffix += hash_hex(id);
  std::size_t keep = max_bytes > suffix.size() ? max_bytes - suffix.size() : 0;
  return std::string(json::utf8_prefix(id, keep)) + suffix;
}

}  // namespace backfill
