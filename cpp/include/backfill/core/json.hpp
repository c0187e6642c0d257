// JSON output for the core. simdjson parses; this writes. A small writer rather than a DOM library
// because it sits on the hot path (metadata, request bodies) and must not allocate per value.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace backfill::json {

// Appends `s` as a JSON string literal (quotes included). Invalid UTF-8 is replaced by U+FFFD so the
// output is always valid JSON.
void append_string(std::string& out, std::string_view s);
// Shortest text that reads back as the same double; integers print without a fraction. Non-finite
// values have no JSON form: the caller drops them (append_number writes null).
void append_number(std::string& out, double v);

// Parses `text` and writes it back in canonical form: object keys sorted bytewise, no whitespace,
// numbers in append_number form. Two JSON texts with the same meaning give the same bytes, which is
// what metadata hashes compare. Throws backfill::error on invalid JSON.
std::string canonicalize(std::string_view text);

// True when `s` is valid UTF-8.
bool valid_utf8(std::string_view s) noexcept;
// The longest prefix of `s` of at most `max_bytes` bytes that ends on a code point boundary.
std::string_view utf8_prefix(std::string_view s, std::size_t max_bytes) noexcept;

}  // namespace backfill::json
