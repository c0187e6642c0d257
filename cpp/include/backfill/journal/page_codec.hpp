// How a journal page is stored: one zstd frame of the body (level 3: ~8x smaller on JSON pages at
// a few hundred MB/s a core), or, for pages written before compression, the body itself.
#pragma once

#include <string>
#include <string_view>

namespace backfill {

// The zstd frame of `body`, into `out` (replaced).
void compress_page(std::string_view body, std::string& out);

// True when `stored` starts with zstd's frame magic number (a JSON text never does).
bool is_compressed_page(std::string_view stored) noexcept;

// The body a frame holds, into `out` (replaced; `padding` bytes of spare capacity for simdjson).
// Returns "" on success, else what is wrong with the frame (truncated, corrupt, ...).
std::string decompress_page(std::string_view stored, std::string& out, std::size_t padding);

}  // namespace backfill
