#include "sources/slack_export/export_files.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <simdjson.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <unordered_set>
#include <utility>

#include <fmt/format.h>

#include "backfill/core/errors.hpp"
#include "backfill/core/log.hpp"

namespace backfill::slack_export {
namespace fs = std::filesystem;

bool is_day_file(std::string_view name) noexcept {
  if (name.size() != 15 || name.substr(10) != ".json") return false;
  for (std::size_t i = 0; i < 10; ++i) {
    const bool dash = (i == 4 || i == 7);
    const char c = name[i];
    if (dash ? c != '-' : (c < '0' || c > '9')) return false;
  }
  return true;
}

namespace {

bool ends_with_zip(const fs::path& p) {
  std::string ext = p.extension().string();
  for (auto& c : ext) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return ext == ".zip";
}

// A name as a message can show it: bytes outside printable ASCII as \xNN.
std::string shown(std::string_view name) {
  std::string out;
  for (unsigned char c : name) {
    if (c >= 0x20 && c < 0x7f && c != '"')
      out.push_back(static_cast<char>(c));
    else
      out += fmt::format("\\x{:02x}", c);
  }
  return out;
}

// Why a zip entry's name would reach outside the export when unpacked, or "" when it would not.
std::string_view escaping_entry(std::string_view name) {
  if (!name.empty() && (name.front() == '/' || name.front() == '\\')) return "is an absolute path";
  if (name.size() >= 2 && name[1] == ':' && std::isalpha(static_cast<unsigned char>(name[0])))
    return "is an absolute path";
  for (std::size_t p = 0; p <= name.size();) {
    std::size_t end = std::min(name.find_first_of("/\\", p), name.size());
    if (name.substr(p, end - p) == "..") return "has a '..' component";
    p = end + 1;
  }
  return {};
}

// Refuses a zip whose entries name a path outside the export, or one path twice (which of them a
// reader sees differs between tools).
void check_entry_names(const fs::path& zip, const std::vector<std::pair<std::string, zip_uint64_t>>& names) {
  std::unordered_set<std::string_view> seen;
  seen.reserve(names.size());
  for (const auto& [name, index] : names) {
    std::string_view why = escaping_entry(name);
    if (why.empty() && !seen.insert(name).second) why = "appears twice";
    if (!why.empty())
      throw config_error(fmt::format(
          "slack_export: {}: the zip entry \"{}\" {}; backfill reads only entries inside the export, each "
          "once: make the zip again from the unpacked export (or use Slack's original)",
          zip.string(), shown(name), why));
  }
}

}  // namespace

export_files::export_files(fs::path path) : path_(std::move(path)) {
  std::error_code ec;
  const auto status = fs::status(path_, ec);
  if (ec || !fs::exists(status)) throw config_error("slack_export: " + path_.string() + " does not exist");
  if (fs::is_directory(status)) return;
  if (!fs::is_regular_file(status) || !ends_with_zip(path_))
    throw config_error("slack_export: " + path_.string() +
                       " is neither a .zip file nor a folder of an unpacked export");
  open_zip();
}

export_files::~export_files() {
  if (archive_) zip_discard(archive_);
  logger()->debug("slack_export: {} files read from {}", files_read_.load(), path_.string());
}

void export_files::open_zip() {
  int code = 0;
  archive_ = zip_open(path_.c_str(), ZIP_RDONLY, &code);
  if (!archive_) {
    zip_error_t err;
    zip_error_init_with_code(&err, code);
    std::string message = zip_error_strerror(&err);
    zip_error_fini(&err);
    throw config_error("slack_export: " + path_.string() + " is not a readable zip file: " + message);
  }
  const zip_int64_t n = zip_get_num_entries(archive_, 0);
  std::vector<std::pair<std::string, zip_uint64_t>> names;
  names.reserve(static_cast<std::size_t>(std::max<zip_int64_t>(n, 0)));
  for (zip_int64_t i = 0; i < n; ++i) {
    const char* name = zip_get_name(archive_, static_cast<zip_uint64_t>(i), ZIP_FL_ENC_GUESS);
    if (name) names.emplace_back(name, static_cast<zip_uint64_t>(i));
  }
  // An export that was unpacked and zipped again has everything inside one folder.
  bool at_root = false;
  std::string nested;
  for (const auto& [name, index] : names) {
    if (name == "channels.json") at_root = true;
    const std::size_t slash = name.find('/');
    if (slash != std::string::npos && name.substr(slash + 1) == "channels.json" &&
        name.compare(0, slash, "__MACOSX") != 0 && nested.empty())
      nested = name.substr(0, slash + 1);
  }
  try {
    check_entry_names(path_, names);
  } catch (...) {
    zip_discard(archive_);
    archive_ = nullptr;
    throw;
  }
  if (!at_root) prefix_ = nested;
  for (auto& [name, index] : names) {
    if (name.compare(0, prefix_.size(), prefix_) != 0) continue;
    std::string rel = name.substr(prefix_.size());
    if (rel.empty() || rel.back() == '/') continue;
    const std::size_t slash = rel.find('/');
    if (slash != std::string::npos && rel.find('/', slash + 1) == std::string::npos &&
        is_day_file(std::string_view(rel).substr(slash + 1)))
      zip_day_files_[rel.substr(0, slash)].push_back(rel.substr(slash + 1));
    entries_.emplace(std::move(rel), index);
  }
  for (auto& [folder, files] : zip_day_files_) std::sort(files.begin(), files.end());
}

std::string export_files::where(std::string_view rel) const {
  return "slack export " + path_.string() + ": " + std::string(rel);
}

export_files::kind export_files::look_up(const std::string& rel) const {
  fs::path p = path_;
  std::string walked;
  kind found = kind::folder;
  for (const auto& part : fs::path(rel)) {
    p /= part;
    if (!walked.empty()) walked += '/';
    walked += part.string();
    struct stat st {};
    if (part == ".." || ::lstat(p.c_str(), &st) != 0) return kind::missing;
    if (S_ISLNK(st.st_mode))
      throw source_error(where(shown(walked)) +
                         " is a symbolic link; backfill follows no link inside an export (it may point "
                         "outside it): put the file or folder itself there");
    if (S_ISDIR(st.st_mode)) {
      found = kind::folder;
    } else if (S_ISREG(st.st_mode)) {
      found = kind::file;
    } else {
      throw source_error(where(shown(walked)) +
                         " is not a regular file (a FIFO, socket or device); backfill reads only regular "
                         "files inside an export: remove it");
    }
  }
  return found;
}

bool export_files::has_file(const std::string& rel) const {
  if (zipped()) return entries_.count(rel) != 0;
  return look_up(rel) == kind::file;
}

// Reads one file of the export into a string with simdjson padding capacity.
std::optional<std::string> export_files::read(const std::string& rel) {
  std::string body;
  if (zipped()) {
    auto it = entries_.find(rel);
    if (it == entries_.end()) return std::nullopt;
    std::lock_guard lock(zip_mutex_);
    zip_stat_t st;
    zip_stat_init(&st);
    if (zip_stat_index(archive_, it->second, 0, &st) != 0)
      throw io_error(where(rel) + ": " + zip_strerror(archive_));
    zip_file_t* file = zip_fopen_index(archive_, it->second, 0);
    if (!file) throw io_error(where(rel) + ": cannot open: " + zip_strerror(archive_));
    const std::size_t expected = (st.valid & ZIP_STAT_SIZE) ? static_cast<std::size_t>(st.size) : 0;
    body.reserve(expected + simdjson::SIMDJSON_PADDING);
    char buf[65536];
    for (;;) {
      const zip_int64_t got = zip_fread(file, buf, sizeof buf);
      if (got < 0) {
        std::string message = zip_file_strerror(file);
        zip_fclose(file);
        throw io_error(where(rel) + ": cannot read: " + message);
      }
      if (got == 0) break;
      body.append(buf, static_cast<std::size_t>(got));
    }
    zip_fclose(file);
  } else {
    if (look_up(rel) != kind::file) return std::nullopt;
    // No link is followed and nothing but a regular file is read, even if the file was swapped
    // since the look (O_NONBLOCK: opening a FIFO does not wait for a writer).
    const fs::path path = path_ / rel;
    int fd = ::open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) throw io_error(where(rel) + ": cannot open: " + std::strerror(errno));
    struct stat st {};
    if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
      ::close(fd);
      throw source_error(where(rel) + " is not a regular file");
    }
    body.resize(static_cast<std::size_t>(st.st_size));
    body.reserve(body.size() + simdjson::SIMDJSON_PADDING);
    std::size_t got = 0;
    while (got < body.size()) {
      ssize_t n = ::read(fd, body.data() + got, body.size() - got);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) break;
      got += static_cast<std::size_t>(n);
    }
    ::close(fd);
    if (got != body.size()) throw io_error(where(rel) + ": short read");
  }
  if (body.capacity() - body.size() < simdjson::SIMDJSON_PADDING)
    body.reserve(body.size() + simdjson::SIMDJSON_PADDING);
  files_read_.fetch_add(1, std::memory_order_relaxed);
  return body;
}

std::vector<std::string> export_files::day_files(const std::string& folder) const {
  if (folder.empty()) return {};
  if (zipped()) {
    auto it = zip_day_files_.find(folder);
    return it == zip_day_files_.end() ? std::vector<std::string>{} : it->second;
  }
  std::vector<std::string> files;
  if (look_up(folder) != kind::folder) return files;
  std::error_code ec;
  fs::directory_iterator it(path_ / folder, ec);
  if (ec) return files;
  for (const auto& entry : it) {
    std::string name = entry.path().filename().string();
    if (is_day_file(name) && look_up(folder + "/" + name) == kind::file) files.push_back(std::move(name));
  }
  std::sort(files.begin(), files.end());
  return files;
}

bool export_files::has_folder(const std::string& folder) const {
  if (zipped()) return zip_day_files_.count(folder) != 0;
  return look_up(folder) == kind::folder;
}

}  // namespace backfill::slack_export
