// Reading fields of Slack's JSON objects (messages, users, conversations), where a field of the wrong
// type counts as absent.
#pragma once

#include <optional>
#include <string_view>

#include <simdjson.h>

namespace backfill::slack {

inline std::string_view str(simdjson::dom::object o, std::string_view key) noexcept {
  std::string_view v;
  if (o[key].get_string().get(v) != simdjson::SUCCESS) return {};
  return v;
}

inline std::optional<simdjson::dom::object> obj(simdjson::dom::object o, std::string_view key) noexcept {
  simdjson::dom::object v;
  if (o[key].get_object().get(v) != simdjson::SUCCESS) return std::nullopt;
  return v;
}

inline std::optional<simdjson::dom::array> arr(simdjson::dom::object o, std::string_view key) noexcept {
  simdjson::dom::array v;
  if (o[key].get_array().get(v) != simdjson::SUCCESS) return std::nullopt;
  return v;
}

}  // namespace backfill::slack
