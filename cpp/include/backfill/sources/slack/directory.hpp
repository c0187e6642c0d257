// Who is who and what is what in a Slack workspace: the names of users, bots and conversations by id,
// from the entries of its users, bots and conversations lists (an export's users.json, bots.json,
// channels.json, mpims.json and dms.json, or the Web API's users.list, bots.info and
// conversations.list, which hold the same objects).
#pragma once

#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace simdjson::dom {
class object;
}

namespace backfill::slack {

struct directory {
  std::unordered_map<std::string, std::string> users;     // id -> display name
  std::unordered_map<std::string, std::string> bots;      // bot id -> name
  std::unordered_map<std::string, std::string> channels;  // id -> name
  // Direct messages (dms.json, is_im) and group DMs (mpims.json, is_mpim): id -> member user ids.
  std::unordered_map<std::string, std::vector<std::string>> members;

  const std::string* user(std::string_view id) const;
  const std::string* bot(std::string_view id) const;
  const std::string* channel(std::string_view id) const;

  // Adds one list entry: a user when it has a profile or a real name (named by its profile's display
  // name, else real name, else user name, else id; a bot user also names its profile's bot_id); a
  // bot when its id is a bot's ("B..."); a DM or group DM when it has members (or an im's user) and
  // is_im, is_mpim, no name or an "mpdm-" name; else a conversation with a name. Entries without an
  // id add nothing; the first entry of an id wins.
  void add(simdjson::dom::object entry);

  // The conversation as Slack's sidebar names it: "#name" for a channel; for a DM or group DM its
  // members' names, ", " between them; "#" and the id when it is unknown.
  std::string title(std::string_view id) const;
  // Whether `id` is a DM or group DM.
  bool direct(std::string_view id) const;
};

}  // namespace backfill::slack
