#include "sources/slack_api/workspace.hpp"

#include <simdjson.h>

#include <algorithm>
#include <set>

#include <fmt/format.h>

#include "backfill/core/errors.hpp"
#include "backfill/core/log.hpp"
#include "backfill/core/padded_json.hpp"
#include "backfill/http/paginate.hpp"
#include "backfill/http/scrub.hpp"
#include "sources/slack/fields.hpp"

namespace backfill::slack_api {
namespace {

bool flag(simdjson::dom::object o, std::string_view key, bool otherwise) {
  bool v = otherwise;
  return o[key].get_bool().get(v) == simdjson::SUCCESS ? v : otherwise;
}

std::string joined(const std::vector<std::string>& v) {
  std::string out;
  for (const auto& s : v) out += (out.empty() ? "" : ",") + s;
  return out;
}

// Which scope a list call lacks, as the fix names it.
[[noreturn]] void list_failed(std::string_view method, const answer& a, const std::string& base) {
  if (a.error == "missing_scope")
    throw source_error(
        fmt::format("Slack {} {}: the token lacks the scope {}; add it to the app's "
                    "OAuth scopes (OAuth & Permissions) and reinstall the app",
                    base, method, a.needed.empty() ? "this method needs" : a.needed));
  throw source_error(fmt::format("Slack {} {} failed: {}", base, method, a.error));
}

// Adds the users and conversations of a users.list or conversations.list answer to `dir`; false
// when `body` is not JSON.
bool add_to(slack::directory& dir, simdjson::dom::parser& parser, const std::string& body) {
  simdjson::dom::element root;
  if (json::parse_padded(parser, body, root) != simdjson::SUCCESS) return false;
  for (const char* key : {"members", "channels"}) {
    simdjson::dom::array list;
    if (root[key].get(list) != simdjson::SUCCESS) continue;
    for (simdjson::dom::element e : list) {
      simdjson::dom::object o;
      if (e.get_object().get(o) == simdjson::SUCCESS) dir.add(o);
    }
  }
  return true;
}

}  // namespace

void workspace_lists::read_list(std::string_view method, const params& args, std::string_view items,
                                run_context& ctx) {
  http::pagination_guard guard(fmt::format("Slack {}", method));
  std::string cursor;
  simdjson::dom::parser parser;
  do {
    params p = args;
    p.emplace_back("limit", std::to_string(options_.page_size));
    p.emplace_back("cursor", cursor);
    answer a = api_.call(method, p, ctx);
    if (!a.error.empty()) list_failed(method, a, http::scrub_url(api_.base_url()));
    std::vector<std::string> ids;
    simdjson::dom::element root;
    simdjson::dom::array list;
    if (json::parse_padded(parser, a.resp.body, root) == simdjson::SUCCESS &&
        root[items].get(list) == simdjson::SUCCESS) {
      for (simdjson::dom::element e : list) {
        simdjson::dom::object o;
        if (e.get_object().get(o) != simdjson::SUCCESS) continue;
        ids.emplace_back(slack::str(o, "id"));
        if (items != "channels") continue;
        conversation c;
        c.id = ids.back();
        c.name = slack::str(o, "name");
        c.member = flag(o, "is_member", true) || flag(o, "is_im", false);
        c.archived = flag(o, "is_archived", false);
        if (!c.id.empty()) conversations_.push_back(std::move(c));
      }
    }
    guard.check(cursor, a.resp.body, ids);
    cursor = a.next_cursor;
    pages_.push_back(std::move(a.resp.body));
    ctx.checkpoint();
  } while (!cursor.empty());
}

void workspace_lists::label_conversations() {
  slack::directory dir;
  simdjson::dom::parser parser;
  for (const std::string& page : pages_) add_to(dir, parser, page);
  for (auto& c : conversations_) c.label = dir.title(c.id);
}

const std::vector<std::string>& workspace_lists::pages(run_context& ctx) {
  std::lock_guard lock(mu_);
  if (!read_) {
    read_list(
        "conversations.list",
        {{"types", joined(options_.types)}, {"exclude_archived", options_.include_archived ? "" : "true"}},
        "channels", ctx);
    read_list("users.list", {}, "members", ctx);
    label_conversations();
    read_ = true;
    read_at_ = std::chrono::steady_clock::now();
  }
  return pages_;
}

void workspace_lists::start_run() {
  constexpr auto fresh = std::chrono::minutes(5);
  std::lock_guard lock(mu_);
  if (read_ && !used_ && std::chrono::steady_clock::now() - read_at_ < fresh) return;
  read_ = false;
  used_ = false;
  pages_.clear();
  conversations_.clear();
}

void workspace_lists::used() {
  std::lock_guard lock(mu_);
  used_ = true;
}

const std::vector<conversation>& workspace_lists::conversations(run_context& ctx) {
  pages(ctx);
  return conversations_;
}

std::vector<partition_plan> pick(const slack_api_options& options, const std::vector<conversation>& all) {
  std::vector<partition_plan> out;
  std::set<std::string> taken;
  const auto add = [&](const conversation& c) {
    if (!taken.insert(c.id).second) return;
    out.push_back({c.id, !c.label.empty() ? c.label : c.name.empty() ? c.id : "#" + c.name, -1, -1});
  };
  for (const auto& wanted : options.channels) {
    if (wanted == "*") {
      std::int64_t outside = 0;
      for (const auto& c : all) {
        if (c.archived && !options.include_archived) continue;
        if (!c.member) {
          ++outside;
          continue;
        }
        add(c);
      }
      if (outside > 0)
        logger()->info(
            "Slack: {} channels the app is not a member of were left out of \"*\"; invite it "
            "(/invite @your-app in the channel) to read them",
            outside);
      continue;
    }
    const std::string_view name = wanted.starts_with('#') ? std::string_view(wanted).substr(1) : wanted;
    auto it = std::find_if(all.begin(), all.end(),
                           [&](const conversation& c) { return c.id == name || c.name == name; });
    if (it != all.end()) {
      add(*it);
    } else if (!wanted.starts_with('#') && name.size() >= 9 &&
               std::all_of(name.begin(), name.end(),
                           [](char ch) { return std::isupper(ch) || std::isdigit(ch); })) {
      add({std::string(name), "", true, false,
           ""});  // an id conversations.list did not show: history will say
    } else {
      logger()->warn(
          "Slack: no conversation named {} among those the token can list (types {}); check the "
          "name, add its type to source.types, or invite the app to it",
          wanted, joined(options.types));
    }
  }
  return out;
}

slack::directory load_directory(page_reader& pages) {
  slack::directory dir;
  simdjson::dom::parser parser;
  pages.for_each_in(slack_api_source::workspace_partition,
                    [&](std::int64_t, const std::string& body, const std::string& path) {
                      if (!add_to(dir, parser, body))
                        throw source_error("Slack workspace page " + path + ": invalid JSON");
                    });
  return dir;
}

}  // namespace backfill::slack_api
