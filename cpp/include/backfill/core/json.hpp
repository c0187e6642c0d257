// JSON output for the core. simdjson parses; this writes. A small writer rather than a DOM library
// because it sits on the hot path (metadata, request bodies) and must not allocate per value.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace backfill::json {

// Appends `s` as a JSON string literal (quotes included). Invalid UTF-8 is replaced by U+FFFD so the
// output is always valid JSON.
void append_string(std::string& out, std::string_view s);
// Shortest text that reads back as the same double; integers print without a fraction. Non-finite
// values have no JSON form: the caller drops them (append_number writes null).
void append_number(std::string& out, double v);

// Python's float.__repr__ of a finite double (so json.dumps's): the shortest digits that read back
// as the same double, in fixed notation for decimal exponents -4 to 15, else d.ddde+XX.
void append_float_repr(std::string& out, double v);
// The floats joined by commas, each in the shortest text that reads back as the same float32
// (no brackets): the values of a vector in a request body.
void append_floats(std::string& out, const std::vector<float>& values);

// Parses `text` and writes it back in canonical form: object keys sorted bytewise, no whitespace,
// numbers in append_number form. Two JSON texts with the same meaning give the same bytes, which is
// what metadata hashes compare. Throws backfill::error on invalid JSON.
std::string canonicalize(std::string_view text);

// Replaces each escaped NUL (\u0000) inside the JSON text from `from` on by U+FFFD (the replacement
// character, as the three UTF-8 bytes append_string writes for it, so canonical text stays canonical);
// returns how many. No index keeps NUL in a string the same way (PostgreSQL's jsonb refuses it,
// C-string APIs cut there), so records leave the record builder without it and every sink stores,
// hashes and reads back the same bytes. A replacement rather than a cut keeps a visible mark where
// the NUL was and words apart. An escape counts only after an even run of backslashes ("\\u0000" is
// a backslash, then "u0000").
std::size_t replace_nul_escapes(std::string& json, std::size_t from = 0);

// True when `s` is valid UTF-8.
bool valid_utf8(std::string_view s) noexcept;
// The longest prefix of `s` of at most `max_bytes` bytes that ends on a code point boundary.
std::string_view utf8_prefix(std::string_view s, std::size_t max_bytes) noexcept;

// UTF-8 of `n` code points of one width (Latin-1, UCS-2 or UCS-4 units, as Python keeps a str)
// written at `out`, which has room for 4 bytes a unit; returns the end of what was written, or
// nullptr at a lone surrogate (which has no UTF-8). Runs of ASCII go 8 units at a time.
char* encode_utf8(const std::uint8_t* units, std::size_t n, char* out) noexcept;
char* encode_utf8(const std::uint16_t* units, std::size_t n, char* out) noexcept;
char* encode_utf8(const std::uint32_t* units, std::size_t n, char* out) noexcept;
// The same for units of `width` bytes (1, 2 or 4), into `scratch`, grown to room for them and never
// shrunk (its memory is written once and reused): `out` views the text; false at a lone surrogate.
bool encode_utf8(const void* units, int width, std::size_t n, std::string& scratch, std::string_view& out);

}  // namespace backfill::json
