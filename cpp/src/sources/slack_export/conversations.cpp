#include "sources/slack_export/conversations.hpp"

#include <simdjson.h>

#include <optional>
#include <utility>

#include "backfill/core/errors.hpp"
#include "backfill/core/log.hpp"
#include "backfill/core/padded_json.hpp"
#include "backfill/sources/slack_export/slack_export.hpp"
#include "sources/slack/fields.hpp"

namespace backfill::slack_export {

using slack::array;
using slack::element;
using slack::object;
namespace {

struct list_file {
  std::string_view file;
  bool by_id;  // folders named by conversation id (dms) rather than by name
};
constexpr std::array<list_file, 4> list_files = {{
    {"channels.json", false},
    {"groups.json", false},
    {"mpims.json", false},
    {"dms.json", true},
}};

// A folder name taken from channels.json must stay a single path component.
bool safe_folder_name(std::string_view name) noexcept {
  if (name.empty() || name == "." || name == "..") return false;
  return name.find_first_of("/\\") == std::string_view::npos && name.find('\0') == std::string_view::npos;
}

}  // namespace

std::vector<std::string> workspace_pages(const export_files& files) {
  std::vector<std::string> pages;
  const bool users = files.has_file("users.json");
  for (auto name : workspace_files) {
    if (name == "org_users.json" && users) continue;
    std::string file(name);
    if (files.has_file(file)) pages.push_back(std::move(file));
  }
  return pages;
}

void conversation_list::load() {
  std::lock_guard lock(mutex_);
  if (loaded_) return;
  if (!files_.has_file("channels.json")) throw source_error(files_.where("channels.json") + " not found");
  std::vector<conversation> found;
  std::unordered_map<std::string, std::size_t> index;
  slack::directory names;  // a DM is labelled by its members' names, as Slack's sidebar shows it
  for (const char* users : {"users.json", "org_users.json"}) {
    auto body = files_.has_file(users) ? files_.read(users) : std::nullopt;
    if (!body) continue;
    slack::parser_pool::lease parser(parsers_);
    element root;
    array items;
    if (json::parse_padded(*parser, *body, root) != simdjson::SUCCESS || root.get_array().get(items))
      continue;
    for (element item : items)
      if (object o; item.get_object().get(o) == simdjson::SUCCESS) names.add(o);
    break;
  }
  for (const auto& list : list_files) {
    const std::string file(list.file);
    auto body = files_.read(file);
    if (!body) continue;
    slack::parser_pool::lease parser(parsers_);
    const array items = slack::parse_array(*parser, *body, files_.where(file));
    for (element item : items) {
      object o;
      if (item.get_object().get(o) != simdjson::SUCCESS) continue;
      const std::string_view id = slack::str(o, "id");
      if (id.empty()) {
        logger()->warn("slack_export: a conversation in {} has no id; skipped", file);
        continue;
      }
      if (index.count(std::string(id))) continue;
      const std::string_view name = slack::str(o, "name");
      names.add(o);
      conversation c;
      c.id = escape_key(id);
      if (names.direct(id)) {
        c.label = names.title(id);
      } else {
        c.label = "#";  // not "#" + std::string(...): GCC 12 at -O3 warns falsely on it (-Wrestrict, GCC bug
                        // 105329)
        c.label += list.by_id || name.empty() ? id : name;
      }
      const std::string_view folder = list.by_id ? id : name;
      if (safe_folder_name(folder) && files_.has_folder(std::string(folder))) c.folder = std::string(folder);
      index.emplace(c.id, found.size());
      found.push_back(std::move(c));
    }
  }
  list_ = std::move(found);
  index_ = std::move(index);
  loaded_ = true;
}

const std::vector<conversation>& conversation_list::all() {
  load();
  return list_;
}

const conversation& conversation_list::find(std::string_view id) {
  load();
  auto it = index_.find(std::string(id));
  if (it == index_.end())
    throw source_error("slack export " + files_.path().string() + ": no conversation with id " +
                       std::string(id) + " in channels.json, groups.json, mpims.json or dms.json");
  return list_[it->second];
}

slack::directory load_directory(page_reader& pages, slack::parser_pool& parsers) {
  slack::directory dir;
  slack::parser_pool::lease parser(parsers);
  pages.for_each_in(slack_export_source::workspace_partition,
                    [&](std::int64_t, const std::string& body, const std::string& path) {
                      const array items = slack::parse_array(*parser, body, "slack export page " + path);
                      for (element item : items) {
                        object o;
                        if (item.get_object().get(o) == simdjson::SUCCESS) dir.add(o);
                      }
                    });
  return dir;
}

}  // namespace backfill::slack_export
