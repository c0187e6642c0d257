// The embedding cache's vectors, kept outside SQLite: append-only files under <workdir>/vectors/
// (N.vec), their places in the ledger's `embeddings` rows (file, offset, size, checksum). An embed
// call's vectors are one write at the end of the file, not rows of kilobytes that SQLite writes
// twice (its WAL, then the database at checkpoint) over three or four pages each.
//
// Each ledger connection that stores vectors appends to a file of its own, created with O_EXCL
// under the next free number, so writers never share a file. The bytes are written before the rows
// that point at them are committed: a kill -9 (the page cache survives it) loses neither. The files
// are not synced: after a power loss a committed row may point at bytes the disk never got, which
// the row's checksum (XXH3 of the bytes, seeded with the text's hash) tells apart, and the text is
// embedded again (the cache's own rows commit with synchronous=NORMAL for the same trade). Bytes
// whose rows were never committed stay as dead space until the cache is emptied (heal copies after
// a verified run, `backfill gc`), which removes every file no row points at.
#pragma once

#include <cstdint>
#include <filesystem>
#include <mutex>
#include <shared_mutex>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

#include <sys/uio.h>

namespace backfill::ledger_detail {

class vector_files {
 public:
  explicit vector_files(std::filesystem::path dir) : dir_(std::move(dir)) {}
  ~vector_files();
  vector_files(const vector_files&) = delete;
  vector_files& operator=(const vector_files&) = delete;

  // Appends the pieces, in order, to this writer's file (made on first use); returns the file's
  // number and the offset of the first piece's first byte. Throws io_error.
  std::pair<std::int64_t, std::int64_t> append(const std::vector<iovec>& pieces);
  // The next append starts a new file (gc's compaction, so the files it empties can be removed).
  void start_new_file();
  // Makes what this writer appended durable: its file's data and its name in the directory. For a
  // writer whose rows replace others' bytes that are removed after the commit (gc's compaction), where
  // a checksum miss after a power loss would lose a vector instead of skipping a copy. Throws io_error.
  void sync();
  // Reads `size` bytes at `offset` of file `file` into `out`; false when the file or the bytes are
  // not there (removed, cut short).
  bool read(std::int64_t file, std::int64_t offset, void* out, std::size_t size);
  // Removes every file whose number is not in `keep`, this writer's own included (its next append
  // starts a new file); returns how many were removed.
  std::int64_t remove_except(const std::unordered_set<std::int64_t>& keep);
  // What the files take on disk, in bytes (their sizes).
  std::int64_t bytes() const;

  const std::filesystem::path& dir() const noexcept { return dir_; }

 private:
  void close_all();

  std::filesystem::path dir_;
  std::mutex mutex_;
  int append_fd_ = -1;
  std::int64_t append_file_ = 0;
  std::int64_t append_at_ = 0;
  std::shared_mutex read_mutex_;  // read_fds_: shared while a read uses a descriptor
  std::unordered_map<std::int64_t, int> read_fds_;
};

// The checksum a row keeps of its vector's bytes (bit-cast to SQLite's signed integer).
std::int64_t vector_checksum(std::string_view text_hash, const void* bytes, std::size_t size) noexcept;

}  // namespace backfill::ledger_detail
