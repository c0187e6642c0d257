// How a journal page is stored: zstd frames of the body (level 1: ~10x smaller on JSON pages at
// ~800 MB/s a core), one for each part the source handed over, concatenated (as `zstd -d` reads
// them: one stream); or, for pages written before compression, the body itself.
#pragma once

#include <span>
#include <string>
#include <string_view>

namespace backfill {

// The zstd frames of the body made of `parts` one after the other, into `out` (replaced).
void compress_page(std::span<const std::string_view> parts, std::string& out);
// The zstd frame of `body`, into `out` (replaced).
void compress_page(std::string_view body, std::string& out);

// True when `stored` starts with zstd's frame magic number (a JSON text never does).
bool is_compressed_page(std::string_view stored) noexcept;

// The body the frames hold, into `out` (replaced; `padding` bytes of spare capacity for simdjson).
// Returns "" on success, else what is wrong with the frame (truncated, corrupt, ...).
std::string decompress_page(std::string_view stored, std::string& out, std::size_t padding);

}  // namespace backfill
