#include "backfill/journal/page_codec.hpp"

#include <zstd.h>

#include <memory>

#include <fmt/format.h>

#include "backfill/core/errors.hpp"

namespace backfill {
namespace {

constexpr int level = 3;
// A page larger than this when uncompressed is refused as damaged rather than allocated.
constexpr unsigned long long max_page_bytes = 1ull << 31;

struct cctx_free {
  void operator()(ZSTD_CCtx* c) const noexcept { ZSTD_freeCCtx(c); }
};
struct dctx_free {
  void operator()(ZSTD_DCtx* d) const noexcept { ZSTD_freeDCtx(d); }
};

// One context per thread: pages are compressed on the fetch threads and read on the ingest ones.
ZSTD_CCtx* compressor() {
  thread_local std::unique_ptr<ZSTD_CCtx, cctx_free> c(ZSTD_createCCtx());
  if (!c) throw io_error("cannot allocate a zstd compression context");
  return c.get();
}

ZSTD_DCtx* decompressor() {
  thread_local std::unique_ptr<ZSTD_DCtx, dctx_free> d(ZSTD_createDCtx());
  if (!d) throw io_error("cannot allocate a zstd decompression context");
  return d.get();
}

}  // namespace

void compress_page(std::string_view body, std::string& out) {
  // Into a buffer left uninitialised (a string's resize would write every byte of the bound, a
  // page's size): only the frame's bytes are touched, then copied out.
  const std::size_t bound = ZSTD_compressBound(body.size());
  std::unique_ptr<char[]> frame(new char[bound]);
  std::size_t n = ZSTD_compressCCtx(compressor(), frame.get(), bound, body.data(), body.size(), level);
  if (ZSTD_isError(n))
    throw io_error(fmt::format("cannot compress a journal page: {}", ZSTD_getErrorName(n)));
  out.assign(frame.get(), n);
}

bool is_compressed_page(std::string_view stored) noexcept {
  return stored.size() >= 4 && static_cast<unsigned char>(stored[0]) == 0x28 &&
         static_cast<unsigned char>(stored[1]) == 0xB5 && static_cast<unsigned char>(stored[2]) == 0x2F &&
         static_cast<unsigned char>(stored[3]) == 0xFD;
}

std::string decompress_page(std::string_view stored, std::string& out, std::size_t padding) {
  unsigned long long size = ZSTD_getFrameContentSize(stored.data(), stored.size());
  if (size == ZSTD_CONTENTSIZE_ERROR) return "not a zstd frame";
  if (size == ZSTD_CONTENTSIZE_UNKNOWN) return "a zstd frame without its size";
  if (size > max_page_bytes) return fmt::format("a zstd frame claiming {} bytes", size);
  std::size_t frame = ZSTD_findFrameCompressedSize(stored.data(), stored.size());
  if (ZSTD_isError(frame)) return fmt::format("a damaged zstd frame ({})", ZSTD_getErrorName(frame));
  if (frame != stored.size()) return "trailing bytes after its zstd frame";
  out.clear();
  out.reserve(static_cast<std::size_t>(size) + padding);
  out.resize(static_cast<std::size_t>(size));
  std::size_t n = ZSTD_decompressDCtx(decompressor(), out.data(), out.size(), stored.data(), stored.size());
  if (ZSTD_isError(n)) return fmt::format("a damaged zstd frame ({})", ZSTD_getErrorName(n));
  if (n != size) return "a zstd frame shorter than it says";
  return {};
}

}  // namespace backfill
