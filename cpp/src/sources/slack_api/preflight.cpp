#include "sources/slack_api/preflight.hpp"

#include <algorithm>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <simdjson.h>

#include "backfill/core/errors.hpp"
#include "backfill/http/scrub.hpp"

namespace backfill::slack_api {
namespace {

std::string prefix_of(const std::string& type) {
  if (type == "public_channel") return "channels";
  if (type == "private_channel") return "groups";
  return type;  // mpim, im
}

std::vector<std::string> split_scopes(const std::string& header) {
  std::vector<std::string> out;
  std::size_t start = 0;
  while (start <= header.size()) {
    std::size_t end = header.find(',', start);
    if (end == std::string::npos) end = header.size();
    std::string s = header.substr(start, end - start);
    s.erase(0, s.find_first_not_of(' '));
    s.erase(s.find_last_not_of(' ') + 1);
    if (!s.empty()) out.push_back(std::move(s));
    start = end + 1;
  }
  return out;
}

}  // namespace

std::vector<std::string> needed_scopes(const slack_api_options& options) {
  std::vector<std::string> out = {"users:read"};
  for (const auto& t : options.types) {
    out.push_back(prefix_of(t) + ":read");
    out.push_back(prefix_of(t) + ":history");
  }
  return out;
}

void check_token(web_api& api, const slack_api_options& options, preflight_checks& out, run_context& ctx) {
  out.run("source", "credentials", "check source.token and source.base_url", [&] {
    const answer a = api.call("auth.test", {}, ctx);  // a refused token throws, naming the fix
    if (!a.error.empty())
      throw source_error(fmt::format("Slack {} auth.test answered {}: check source.token",
                                     http::scrub_url(api.base_url()), a.error));
    std::string team;
    simdjson::dom::parser parser;
    simdjson::dom::element root;
    std::string_view s;
    if (parser.parse(a.resp.body).get(root) == simdjson::SUCCESS && root["team"].get(s) == simdjson::SUCCESS)
      team = s;
    check_outcome o;
    o.verdict = fmt::format("Slack: the token works{}", team.empty() ? "" : " for workspace " + team);
    const std::string* header = a.resp.find("x-oauth-scopes");
    if (header == nullptr) {
      o.verdict += " (its scopes are not shown: not checked)";
      return o;
    }
    const std::vector<std::string> granted = split_scopes(*header);
    std::vector<std::string> missing;
    for (const auto& need : needed_scopes(options))
      if (std::find(granted.begin(), granted.end(), need) == granted.end()) missing.push_back(need);
    if (missing.empty()) {
      o.verdict += ", with every scope the source needs";
      return o;
    }
    o.status = "failed";
    o.verdict += fmt::format(", but it lacks the scope(s) {}", fmt::join(missing, ", "));
    o.fix = fmt::format(
        "add {} to the app's OAuth scopes (api.slack.com/apps, OAuth & Permissions), reinstall it and set "
        "the new token in source.token; or drop the conversation types that need them from source.types",
        fmt::join(missing, ", "));
    return o;
  });
}

}  // namespace backfill::slack_api
