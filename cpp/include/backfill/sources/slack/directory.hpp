// Who is who and what is what in a Slack workspace: the names of users and conversations by id, from
// the entries of its users and conversations lists (an export's users.json and channels.json, or the
// Web API's users.list and conversations.list, which hold the same objects).
#pragma once

#include <string>
#include <string_view>
#include <unordered_map>

namespace simdjson::dom {
class object;
}

namespace backfill::slack {

struct directory {
  std::unordered_map<std::string, std::string> users;     // id -> display name
  std::unordered_map<std::string, std::string> channels;  // id -> name

  const std::string* user(std::string_view id) const;
  const std::string* channel(std::string_view id) const;

  // Adds one list entry: a user when it has a profile or a real name (named by its profile's display
  // name, else real name, else user name, else id), else a conversation with a name. Entries without
  // an id add nothing; the first entry of an id wins.
  void add(simdjson::dom::object entry);
};

}  // namespace backfill::slack
