#include "backfill/sources/slack/directory.hpp"

#include <simdjson.h>

#include "sources/slack/fields.hpp"

namespace backfill::slack {
namespace {

std::string display_name(simdjson::dom::object user, std::string_view id) {
  if (auto profile = obj(user, "profile")) {
    if (auto v = str(*profile, "display_name"); !v.empty()) return std::string(v);
    if (auto v = str(*profile, "real_name"); !v.empty()) return std::string(v);
  }
  if (auto v = str(user, "real_name"); !v.empty()) return std::string(v);
  if (auto v = str(user, "name"); !v.empty()) return std::string(v);
  return std::string(id);
}

bool flag(simdjson::dom::object o, std::string_view key) noexcept {
  bool v = false;
  return o[key].get_bool().get(v) == simdjson::SUCCESS && v;
}

template <class Map>
const typename Map::mapped_type* lookup(const Map& map, std::string_view id) {
  auto it = map.find(std::string(id));
  return it == map.end() ? nullptr : &it->second;
}

}  // namespace

const std::string* directory::user(std::string_view id) const { return lookup(users, id); }
const std::string* directory::bot(std::string_view id) const {
  return id.empty() ? nullptr : lookup(bots, id);
}
const std::string* directory::channel(std::string_view id) const { return lookup(channels, id); }
bool directory::direct(std::string_view id) const { return lookup(members, id) != nullptr; }

void directory::add(simdjson::dom::object entry) {
  const std::string_view id = str(entry, "id");
  if (id.empty()) return;
  const auto profile = obj(entry, "profile");
  if (profile || !str(entry, "real_name").empty()) {
    const auto [it, added] = users.emplace(std::string(id), display_name(entry, id));
    if (profile)
      if (auto bot_id = str(*profile, "bot_id"); !bot_id.empty())
        bots.emplace(std::string(bot_id), it->second);
    return;
  }
  const std::string_view name = str(entry, "name");
  if (id.front() == 'B') {
    if (!name.empty()) bots.emplace(std::string(id), std::string(name));
    return;
  }
  auto member_list = arr(entry, "members");
  const std::string_view im_user = str(entry, "user");  // conversations.list: an im names its user
  const bool direct =
      flag(entry, "is_im") || flag(entry, "is_mpim") || name.empty() || name.starts_with("mpdm-");
  if (direct && (member_list || !im_user.empty())) {
    std::vector<std::string> ids;
    if (member_list) {
      for (simdjson::dom::element m : *member_list) {
        std::string_view uid;
        if (m.get_string().get(uid) == simdjson::SUCCESS && !uid.empty()) ids.emplace_back(uid);
      }
    } else {
      ids.emplace_back(im_user);
    }
    members.emplace(std::string(id), std::move(ids));
  } else if (!name.empty()) {
    channels.emplace(std::string(id), std::string(name));
  }
}

std::string directory::title(std::string_view id) const {
  if (const auto* ids = lookup(members, id); ids && !ids->empty()) {
    std::string out;
    for (const auto& uid : *ids) {
      if (!out.empty()) out += ", ";
      const std::string* name = user(uid);
      out += name ? *name : uid;
    }
    return out;
  }
  std::string out = "#";
  const std::string* name = channel(id);
  out += name ? std::string_view(*name) : id;
  return out;
}

}  // namespace backfill::slack
