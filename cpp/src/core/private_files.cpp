#include "backfill/core/private_files.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>

#include "backfill/core/errors.hpp"

namespace backfill {
namespace fs = std::filesystem;

namespace {

[[noreturn]] void fail(const std::string& doing, const fs::path& path, int err) {
  throw io_error(doing + " " + path.string() + ": " + std::strerror(err));
}

// Sets `mode` on `path` when its permission bits are wider; true when it changed them.
bool tighten(const fs::path& path, const struct stat& st, unsigned mode) {
  if ((st.st_mode & 07777 & ~mode) == 0) return false;
  if (::chmod(path.c_str(), static_cast<mode_t>(st.st_mode & 07777 & mode)) != 0)
    fail("cannot restrict the permissions of", path, errno);
  return true;
}

}  // namespace

void make_private_dirs(const fs::path& dir) {
  if (dir.empty()) return;
  // Folders that exist are left as they are: one stat, not a mkdir per component (the journal asks
  // for its partition's folder at every page).
  if (struct stat st{}; ::stat(dir.c_str(), &st) == 0 && S_ISDIR(st.st_mode)) return;
  fs::path built;
  for (const auto& part : dir) {
    built /= part;
    if (::mkdir(built.c_str(), private_dir_mode) == 0) {
      // mkdir applies the umask, which may only have narrowed the mode; state it exactly.
      if (::chmod(built.c_str(), private_dir_mode) != 0) fail("cannot set the permissions of", built, errno);
      continue;
    }
    int err = errno;
    struct stat st {};
    if (err != EEXIST || ::stat(built.c_str(), &st) != 0 || !S_ISDIR(st.st_mode))
      fail("cannot create directory", built, err == EEXIST ? ENOTDIR : err);
  }
}

void make_private_file(const fs::path& path) {
  int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, private_file_mode);
  if (fd < 0) fail("cannot create", path, errno);
  struct stat st {};
  int rc = ::fstat(fd, &st);
  int err = errno;
  if (rc == 0 && (st.st_mode & 07777 & ~private_file_mode) != 0 &&
      ::fchmod(fd, static_cast<mode_t>(st.st_mode & private_file_mode)) != 0) {
    rc = -1;
    err = errno;
  }
  ::close(fd);
  if (rc != 0) fail("cannot restrict the permissions of", path, err);
}

std::size_t tighten_tree(const fs::path& root) {
  std::size_t changed = 0;
  struct stat st {};
  if (::lstat(root.c_str(), &st) != 0) return 0;
  if (S_ISDIR(st.st_mode)) changed += tighten(root, st, private_dir_mode);
  std::error_code ec;
  for (fs::recursive_directory_iterator it(root, ec), end; !ec && it != end; it.increment(ec)) {
    const fs::path& p = it->path();
    if (::lstat(p.c_str(), &st) != 0 || S_ISLNK(st.st_mode)) continue;
    changed += tighten(p, st, S_ISDIR(st.st_mode) ? private_dir_mode : private_file_mode);
  }
  if (ec) throw io_error("cannot read directory " + root.string() + ": " + ec.message());
  return changed;
}

void fsync_dir(const fs::path& dir) {
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) throw io_error("cannot open directory " + dir.string() + ": " + std::strerror(errno));
  if (::fsync(fd) != 0) {
    const int err = errno;
    ::close(fd);
    throw io_error("cannot fsync directory " + dir.string() + ": " + std::strerror(err));
  }
  ::close(fd);
}

}  // namespace backfill
