// The journal: every raw page a source returned, one file per page, written atomically
// (temp file, fsync, rename, fsync of the directory) so that a page on disk is always whole.
// Layout: <root>/<source>/<partition>/<seq>.json.zst with seq zero-padded to 8 digits: the page as the
// source sent it, in zstd frames (one a part the source handed over, journal/page_codec.hpp), which
// `zstdcat 00000000.json.zst | jq` reads as one stream. Pages written uncompressed
// (<seq>.json, by earlier versions) are read as they are: a page is a zstd frame when it starts with
// zstd's magic number, which no JSON text does. The ledger's page hash and size are of the
// uncompressed body, so a page reads back as exactly what was fetched.
#pragma once

#include <cstdint>
#include <filesystem>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace backfill {

class journal {
 public:
  explicit journal(std::filesystem::path root);

  const std::filesystem::path& root() const noexcept { return root_; }

  // Writes one page durably; returns the path written. Overwrites an existing page atomically.
  std::filesystem::path write_page(std::string_view source, std::string_view partition, std::int64_t seq,
                                   std::string_view body) const;
  // The same for a body made of `parts` one after the other (one zstd frame each, not joined).
  std::filesystem::path write_page(std::string_view source, std::string_view partition, std::int64_t seq,
                                   std::span<const std::string_view> parts) const;

  // Reads a page into `out`, uncompressed (with simdjson padding capacity reserved). Throws
  // journal_error naming the file when it is missing, unreadable or not a whole zstd frame.
  void read_page(const std::filesystem::path& path, std::string& out) const;

  std::filesystem::path page_path(std::string_view source, std::string_view partition,
                                  std::int64_t seq) const;
  std::filesystem::path partition_dir(std::string_view source, std::string_view partition) const;

  // Removes every page of a partition (used by --refetch).
  void clear_partition(std::string_view source, std::string_view partition) const;

  // Maps any key to one safe path component: [A-Za-z0-9._-] kept, everything else %XX-encoded,
  // "." and ".." and the empty string encoded too, and long names shortened with a hash suffix.
  // Injective, so two partitions never share a directory, and no result can leave the journal.
  static std::string sanitize_component(std::string_view key);

 private:
  std::filesystem::path root_;
};

// Writes `body` to `path` atomically and durably (temp + fsync + rename + fsync dir).
void write_file_atomic(const std::filesystem::path& path, std::string_view body);

}  // namespace backfill
