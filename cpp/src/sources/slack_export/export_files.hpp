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
//
// Only what is inside the export is read: in a folder, a symbolic link or a special file (a FIFO, a
// device) anywhere on the way to a file is an error naming it, never followed or opened; a zip with
// an entry named by an absolute path, with a ".." component, or twice is refused as a whole.
class export_files {
 public:
  // Throws config_error when `path` is neither a folder nor a readable .zip file, or a zip with an
  // entry it refuses.
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
  // when it cannot be read, source_error when it (or a folder on its way) is a link or special file.
  std::optional<std::string> read(const std::string& rel);
  // The day files of a conversation folder, sorted (so by date); none for "" or a missing folder.
  std::vector<std::string> day_files(const std::string& folder) const;

 private:
  void open_zip();
  enum class kind { missing, file, folder };
  // What `rel` is in an unpacked export, looked at without following links: throws source_error
  // for a link or a special file on the way.
  kind look_up(const std::string& rel) const;

  std::filesystem::path path_;
  zip_t* archive_ = nullptr;
  std::mutex zip_mutex_;
  std::string prefix_;  // folder inside the zip that holds channels.json ("" or "name/")
  std::unordered_map<std::string, zip_uint64_t> entries_;          // relative name -> index
  std::map<std::string, std::vector<std::string>> zip_day_files_;  // folder -> sorted day files
  std::atomic<std::int64_t> files_read_{0};
};

}  // namespace backfill::slack_export
