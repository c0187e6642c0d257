// PostgreSQL's binary COPY format and the binary forms of the values the pgvector sink moves:
// vector (int16 dimensions, int16 unused, float4 each, all big-endian), jsonb (version byte 1, then
// the JSON text) and text (its bytes). Rows go into one buffer that COPY ... FROM STDIN (FORMAT
// BINARY) takes as it is; no per-value allocation.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace backfill::pgcopy {

// The 19-byte header: signature, flags, header extension length.
void append_header(std::string& out);
// The end-of-data marker (a field count of -1).
void append_trailer(std::string& out);
// A row's field count.
void append_row_start(std::string& out, int fields);
void append_text(std::string& out, std::string_view text);
// Every \u0000 escape of the JSON text becomes \ufffd (jsonb refuses NUL).
void append_jsonb(std::string& out, std::string_view json);
void append_vector(std::string& out, const std::vector<float>& values);

// A vector's binary form (a binary result's value) back to floats; nullopt when it is malformed.
std::optional<std::vector<float>> read_vector(const char* data, std::size_t size);
// A jsonb's binary form back to its JSON text; nullopt when the version byte is not 1.
std::optional<std::string_view> read_jsonb(const char* data, std::size_t size);

}  // namespace backfill::pgcopy
