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

}  // namespace

const std::string* directory::user(std::string_view id) const {
  auto it = users.find(std::string(id));
  return it == users.end() ? nullptr : &it->second;
}

const std::string* directory::channel(std::string_view id) const {
  auto it = channels.find(std::string(id));
  return it == channels.end() ? nullptr : &it->second;
}

void directory::add(simdjson::dom::object entry) {
  const std::string_view id = str(entry, "id");
  if (id.empty()) return;
  const bool is_user = obj(entry, "profile").has_value() || !str(entry, "real_name").empty();
  if (is_user) {
    users.emplace(std::string(id), display_name(entry, id));
  } else if (auto name = str(entry, "name"); !name.empty()) {
    channels.emplace(std::string(id), std::string(name));
  }
}

}  // namespace backfill::slack
