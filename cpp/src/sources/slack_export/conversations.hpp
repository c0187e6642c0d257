// What an export holds besides messages: its conversations (channels.json, groups.json, mpims.json,
// dms.json) and their folders, the files of the "_workspace" partition, and the workspace's names
// (users and conversations) read back from that partition's journaled pages.
#pragma once

#include <array>
#include <cstddef>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "backfill/sources/slack/directory.hpp"
#include "backfill/sources/source.hpp"
#include "sources/slack/page_json.hpp"
#include "sources/slack_export/export_files.hpp"

namespace backfill::slack_export {

// Root files that make up the "_workspace" partition, in page order. org_users.json (Enterprise Grid)
// stands in for users.json only when users.json is absent; bots.json names bots without a user.
inline constexpr std::array<std::string_view, 7> workspace_files = {
    "users.json", "org_users.json", "channels.json", "groups.json", "mpims.json", "dms.json", "bots.json"};

// The workspace files present, in page order.
std::vector<std::string> workspace_pages(const export_files& files);

struct conversation {
  std::string id;
  std::string label;   // "#general"; a DM or group DM: its members' names
  std::string folder;  // empty when the export has no folder for it
};

// The export's conversations, read from its lists once, on first use. Thread-safe.
class conversation_list {
 public:
  conversation_list(export_files& files, slack::parser_pool& parsers) : files_(files), parsers_(parsers) {}

  // In list order (channels, groups, mpims, dms), each id once. Throws source_error when the export
  // has no channels.json.
  const std::vector<conversation>& all();
  // Throws source_error when no list has `id`.
  const conversation& find(std::string_view id);

 private:
  void load();

  export_files& files_;
  slack::parser_pool& parsers_;
  std::mutex mutex_;
  bool loaded_ = false;
  std::vector<conversation> list_;
  std::unordered_map<std::string, std::size_t> index_;
};

// The names of users and conversations, from the journaled pages of the "_workspace" partition.
slack::directory load_directory(page_reader& pages, slack::parser_pool& parsers);

}  // namespace backfill::slack_export
