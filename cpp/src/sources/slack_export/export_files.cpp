#include "sources/slack_export/export_files.hpp"

#include <simdjson.h>

#include <algorithm>
#include <cctype>
#include <fstream>
#include <utility>

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

bool export_files::has_file(const std::string& rel) const {
  if (zipped()) return entries_.count(rel) != 0;
  std::error_code ec;
  return fs::is_regular_file(path_ / rel, ec);
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
    const fs::path path = path_ / rel;
    std::error_code ec;
    if (!fs::is_regular_file(path, ec)) return std::nullopt;
    std::ifstream in(path, std::ios::binary);
    if (!in) throw io_error(where(rel) + ": cannot open");
    const auto size = fs::file_size(path, ec);
    if (ec) throw io_error(where(rel) + ": " + ec.message());
    body.resize(static_cast<std::size_t>(size));
    body.reserve(body.size() + simdjson::SIMDJSON_PADDING);
    in.read(body.data(), static_cast<std::streamsize>(body.size()));
    if (in.gcount() != static_cast<std::streamsize>(body.size())) throw io_error(where(rel) + ": short read");
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
  std::error_code ec;
  fs::directory_iterator it(path_ / folder, ec);
  if (ec) return files;
  for (const auto& entry : it) {
    std::string name = entry.path().filename().string();
    if (is_day_file(name) && entry.is_regular_file(ec)) files.push_back(std::move(name));
  }
  std::sort(files.begin(), files.end());
  return files;
}

bool export_files::has_folder(const std::string& folder) const {
  if (zipped()) return zip_day_files_.count(folder) != 0;
  std::error_code ec;
  return fs::is_directory(path_ / folder, ec);
}

}  // namespace backfill::slack_export
