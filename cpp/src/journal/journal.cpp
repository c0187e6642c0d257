#include "backfill/journal/journal.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <random>

#include <fmt/format.h>
#include <simdjson.h>

#include "backfill/core/errors.hpp"
#include "backfill/core/hash.hpp"
#include "backfill/core/private_files.hpp"
#include "backfill/journal/page_codec.hpp"

namespace backfill {
namespace fs = std::filesystem;

namespace {

std::string errno_text(int err) { return std::strerror(err); }

[[noreturn]] void fail_io(const std::string& doing, const fs::path& path, int err) {
  throw io_error(doing + " " + path.string() + ": " + errno_text(err));
}

}  // namespace

void write_file_atomic(const fs::path& path, std::string_view body) {
  const fs::path dir = path.parent_path();
  make_private_dirs(dir);
  // A unique temp name in the same directory, so rename() is atomic and concurrent writers never
  // share a temp file. Temp files left by a crash are ignored by readers and overwritten or cleaned.
  thread_local std::mt19937_64 rng{std::random_device{}()};
  fs::path tmp = dir / fmt::format(".{}.{:016x}.tmp", path.filename().string(), rng());
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, private_file_mode);
  if (fd < 0) fail_io("cannot create", tmp, errno);
  const char* p = body.data();
  std::size_t left = body.size();
  while (left > 0) {
    ssize_t n = ::write(fd, p, left);
    if (n < 0) {
      if (errno == EINTR) continue;
      int err = errno;
      ::close(fd);
      ::unlink(tmp.c_str());
      fail_io("cannot write", tmp, err);
    }
    p += n;
    left -= static_cast<std::size_t>(n);
  }
  if (::fsync(fd) != 0) {
    int err = errno;
    ::close(fd);
    ::unlink(tmp.c_str());
    fail_io("cannot fsync", tmp, err);
  }
  if (::close(fd) != 0) {
    int err = errno;
    ::unlink(tmp.c_str());
    fail_io("cannot close", tmp, err);
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    int err = errno;
    ::unlink(tmp.c_str());
    fail_io("cannot rename into", path, err);
  }
  fsync_dir(dir);
}

journal::journal(fs::path root) : root_(std::move(root)) {}

std::string journal::sanitize_component(std::string_view key) {
  static const char* hex = "0123456789ABCDEF";
  std::string out;
  out.reserve(key.size());
  for (unsigned char c : key) {
    bool keep = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
                c == '_' || (c == '.' && !out.empty());
    if (keep) {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back('%');
      out.push_back(hex[c >> 4]);
      out.push_back(hex[c & 15]);
    }
  }
  // "" would collapse into the parent and a leading '.' is always encoded above, so "." and ".."
  // cannot appear. Names longer than a file system allows keep a readable prefix plus a hash of the
  // whole key, which keeps the mapping injective in practice.
  if (out.empty()) out = "%00";
  constexpr std::size_t max_len = 160;
  if (out.size() > max_len) {
    std::string prefix = out.substr(0, 120);
    while (!prefix.empty() &&
           (prefix.back() == '%' || (prefix.size() >= 2 && prefix[prefix.size() - 2] == '%')))
      prefix.pop_back();
    out = prefix + "~" + hash_hex(key);
  }
  return out;
}

fs::path journal::partition_dir(std::string_view source, std::string_view partition) const {
  return root_ / sanitize_component(source) / sanitize_component(partition);
}

fs::path journal::page_path(std::string_view source, std::string_view partition, std::int64_t seq) const {
  return partition_dir(source, partition) / fmt::format("{:08d}.json.zst", seq);
}

fs::path journal::write_page(std::string_view source, std::string_view partition, std::int64_t seq,
                             std::string_view body) const {
  return write_page(source, partition, seq, std::span<const std::string_view>(&body, 1));
}

fs::path journal::write_page(std::string_view source, std::string_view partition, std::int64_t seq,
                             std::span<const std::string_view> parts) const {
  fs::path path = page_path(source, partition, seq);
  thread_local std::string frame;
  compress_page(parts, frame);
  write_file_atomic(path, frame);
  return path;
}

void journal::read_page(const fs::path& path, std::string& out) const {
  auto unreadable = [&](const std::string& why) {
    return journal_error("journal page " + path.string() + " cannot be read: " + why, path.string());
  };
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw unreadable(errno_text(errno));
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    int err = errno;
    ::close(fd);
    throw unreadable(errno_text(err));
  }
  // The stored bytes go to `stored`; an uncompressed page (an older journal) is then swapped into
  // `out`, so it needs the padding too.
  thread_local std::string stored;
  std::size_t size = static_cast<std::size_t>(st.st_size);
  stored.clear();
  stored.reserve(size + simdjson::SIMDJSON_PADDING);
  stored.resize(size);
  std::size_t got = 0;
  while (got < size) {
    ssize_t n = ::read(fd, stored.data() + got, size - got);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    got += static_cast<std::size_t>(n);
  }
  ::close(fd);
  stored.resize(got);
  if (!is_compressed_page(stored)) {
    out.swap(stored);
    return;
  }
  std::string why = decompress_page(stored, out, simdjson::SIMDJSON_PADDING);
  if (!why.empty()) throw unreadable("it holds " + why);
}

void journal::clear_partition(std::string_view source, std::string_view partition) const {
  std::error_code ec;
  fs::remove_all(partition_dir(source, partition), ec);
  if (ec) throw io_error("cannot remove " + partition_dir(source, partition).string() + ": " + ec.message());
}

}  // namespace backfill
