#include "vector_files.hpp"

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <climits>
#include <cstring>
#include <mutex>
#include <shared_mutex>
#include <string>

#include <fcntl.h>
#include <unistd.h>

#include "backfill/core/errors.hpp"
#include "backfill/core/hash.hpp"
#include "backfill/core/private_files.hpp"

namespace backfill::ledger_detail {
namespace fs = std::filesystem;

namespace {

constexpr std::string_view suffix = ".vec";

fs::path file_path(const fs::path& dir, std::int64_t n) { return dir / (std::to_string(n) + ".vec"); }

// The number of a file named N.vec, or 0 for anything else.
std::int64_t number_of(const fs::path& p) {
  const std::string name = p.filename().string();
  if (name.size() <= suffix.size() || name.compare(name.size() - suffix.size(), suffix.size(), suffix) != 0)
    return 0;
  std::int64_t n = 0;
  const char* end = name.data() + name.size() - suffix.size();
  auto [ptr, ec] = std::from_chars(name.data(), end, n);
  return ec == std::errc() && ptr == end && n > 0 ? n : 0;
}

template <class Fn>
void for_each_vector_file(const fs::path& dir, Fn&& fn) {
  std::error_code ec;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec))
    if (const std::int64_t n = number_of(it->path())) fn(n, it->path());
}

[[noreturn]] void fail(const std::string& what, const fs::path& p, int err) {
  throw io_error(what + " " + p.string() + ": " + std::strerror(err));
}

}  // namespace

std::int64_t vector_checksum(std::string_view text_hash, const void* bytes, std::size_t size) noexcept {
  const std::uint64_t h = hash64(std::string_view(static_cast<const char*>(bytes), size), hash64(text_hash));
  std::int64_t out;
  std::memcpy(&out, &h, sizeof out);
  return out;
}

vector_files::~vector_files() { close_all(); }

void vector_files::close_all() {
  if (append_fd_ >= 0) ::close(append_fd_);
  append_fd_ = -1;
  append_file_ = 0;
  append_at_ = 0;
  std::lock_guard<std::shared_mutex> readers(read_mutex_);
  for (auto& [n, fd] : read_fds_) ::close(fd);
  read_fds_.clear();
}

void vector_files::start_new_file() {
  std::lock_guard<std::mutex> lock(mutex_);
  if (append_fd_ >= 0) ::close(append_fd_);
  append_fd_ = -1;
  append_file_ = 0;
  append_at_ = 0;
}

void vector_files::sync() {
  std::lock_guard<std::mutex> lock(mutex_);
  if (append_fd_ < 0) return;
  if (::fdatasync(append_fd_) != 0)
    fail("cannot sync the embedding cache file", file_path(dir_, append_file_), errno);
  fsync_dir(dir_);
}

std::pair<std::int64_t, std::int64_t> vector_files::append(const std::vector<iovec>& pieces) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (append_fd_ < 0) {
    make_private_dirs(dir_);
    std::int64_t n = 0;
    for_each_vector_file(dir_, [&](std::int64_t k, const fs::path&) { n = std::max(n, k); });
    for (;;) {  // another writer may take the same number first: O_EXCL tells, the next one is tried
      const fs::path p = file_path(dir_, ++n);
      const int fd =
          ::open(p.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, private_file_mode);
      if (fd >= 0) {
        append_fd_ = fd;
        append_file_ = n;
        append_at_ = 0;
        break;
      }
      if (errno != EEXIST) fail("cannot create", p, errno);
    }
  }
  const std::int64_t start = append_at_;
  std::size_t i = 0;
  std::size_t skip = 0;  // bytes of pieces[i] already written
  while (i < pieces.size()) {
    // At most IOV_MAX pieces a call; the first one resumes where a short write stopped.
    std::vector<iovec> batch(
        pieces.begin() + static_cast<std::ptrdiff_t>(i),
        pieces.begin() + static_cast<std::ptrdiff_t>(std::min(pieces.size(), i + IOV_MAX)));
    batch.front().iov_base = static_cast<char*>(batch.front().iov_base) + skip;
    batch.front().iov_len -= skip;
    const ssize_t wrote = ::pwritev(append_fd_, batch.data(), static_cast<int>(batch.size()), append_at_);
    if (wrote < 0) {
      if (errno == EINTR) continue;
      const int err = errno;
      // What was written of this call is dead space: the next append starts past it.
      fail("cannot write the embedding cache file", file_path(dir_, append_file_), err);
    }
    append_at_ += wrote;
    auto left = static_cast<std::size_t>(wrote);
    while (i < pieces.size() && left >= pieces[i].iov_len - skip) {
      left -= pieces[i].iov_len - skip;
      skip = 0;
      ++i;
    }
    skip += left;
  }
  return {append_file_, start};
}

bool vector_files::read(std::int64_t file, std::int64_t offset, void* out, std::size_t size) {
  // The read holds the lock shared, so that remove_except() cannot close the descriptor under it
  // (and a descriptor number reused by another open() cannot be read in its place).
  std::shared_lock<std::shared_mutex> shared(read_mutex_);
  auto it = read_fds_.find(file);
  if (it == read_fds_.end()) {
    shared.unlock();
    {
      std::lock_guard<std::shared_mutex> lock(read_mutex_);
      if (!read_fds_.count(file)) {
        const int fd = ::open(file_path(dir_, file).c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
        if (fd < 0) return false;
        read_fds_.emplace(file, fd);
      }
    }
    shared.lock();
    it = read_fds_.find(file);
    if (it == read_fds_.end()) return false;  // removed in between
  }
  const int fd = it->second;
  auto* p = static_cast<char*>(out);
  std::size_t done = 0;
  while (done < size) {
    const ssize_t got = ::pread(fd, p + done, size - done, offset + static_cast<std::int64_t>(done));
    if (got < 0 && errno == EINTR) continue;
    if (got <= 0) return false;
    done += static_cast<std::size_t>(got);
  }
  return true;
}

std::int64_t vector_files::remove_except(const std::unordered_set<std::int64_t>& keep) {
  std::lock_guard<std::mutex> lock(mutex_);
  std::vector<fs::path> gone;
  for_each_vector_file(dir_, [&](std::int64_t n, const fs::path& p) {
    if (!keep.count(n)) gone.push_back(p);
  });
  if (append_file_ != 0 && !keep.count(append_file_)) {
    ::close(append_fd_);
    append_fd_ = -1;
    append_file_ = 0;
    append_at_ = 0;
  }
  {
    std::lock_guard<std::shared_mutex> readers(read_mutex_);
    for (auto it = read_fds_.begin(); it != read_fds_.end();) {
      if (keep.count(it->first)) {
        ++it;
        continue;
      }
      ::close(it->second);
      it = read_fds_.erase(it);
    }
  }
  std::int64_t removed = 0;
  for (const auto& p : gone) {
    std::error_code ec;
    if (fs::remove(p, ec)) ++removed;
  }
  return removed;
}

std::int64_t vector_files::bytes() const {
  std::int64_t n = 0;
  for_each_vector_file(dir_, [&](std::int64_t, const fs::path& p) {
    std::error_code ec;
    const auto size = fs::file_size(p, ec);
    if (!ec) n += static_cast<std::int64_t>(size);
  });
  return n;
}

}  // namespace backfill::ledger_detail
