// The files of a Slack export, whether the zip Slack's export tool produces or the folder it unpacks
// to: which exist, the day files of each conversation folder, and their bytes.
#pragma once

#include <zip.h>

#include <atomic>
#include <filesystem>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace backfill::slack_export {

// YYYY-MM-DD.json
bool is_day_file(std::string_view name) noexcept;

// Safe to use from several threads at once (reads from the zip are serialized).
class export_files {
 public:
  // Throws config_error when `path` is neither a folder nor a readable .zip file.
  explicit export_files(std::filesystem::path path);
  ~export_files();
  export_files(const export_files&) = delete;
  export_files& operator=(const export_files&) = delete;

  bool zipped() const noexcept { return archive_ != nullptr; }
  const std::filesystem::path& path() const noexcept { return path_; }
  // "slack export <path>: <rel>", for messages.
  std::string where(std::string_view rel) const;

  // `rel` is relative to the export's root ("channels.json", "general/2024-01-31.json").
  bool has_file(const std::string& rel) const;
  bool has_folder(const std::string& folder) const;
  // The file's bytes, with simdjson padding capacity; nullopt when it does not exist. Throws io_error
  // when it cannot be read.
  std::optional<std::string> read(const std::string& rel);
  // The day files of a conversation folder, sorted (so by date); none for "" or a missing folder.
  std::vector<std::string> day_files(const std::string& folder) const;

 private:
  void open_zip();

  std::filesystem::path path_;
  zip_t* archive_ = nullptr;
  std::mutex zip_mutex_;
  std::string prefix_;  // folder inside the zip that holds channels.json ("" or "name/")
  std::unordered_map<std::string, zip_uint64_t> entries_;          // relative name -> index
  std::map<std::string, std::vector<std::string>> zip_day_files_;  // folder -> sorted day files
  std::atomic<std::int64_t> files_read_{0};
};

}  // namespace backfill::slack_export
