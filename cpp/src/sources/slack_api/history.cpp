#include "sources/slack_api/history.hpp"

#include <simdjson.h>

#include <optional>

#include <fmt/format.h>

#include "backfill/core/errors.hpp"
#include "backfill/core/log.hpp"
#include "backfill/core/padded_json.hpp"
#include "backfill/http/paginate.hpp"
#include "backfill/http/scrub.hpp"
#include "backfill/sources/slack/thread.hpp"
#include "sources/slack/fields.hpp"

namespace backfill::slack_api {
namespace {

// A page's messages: their ts (for the pagination guard) and the thread roots among them whose
// replies are to be read.
struct page_view {
  std::size_t messages = 0;
  std::vector<std::string> ids;
  std::vector<std::string> roots;
  std::string newest;  // the highest ts
};

page_view read_page(simdjson::dom::parser& parser, const std::string& body, std::string_view skip_parent,
                    const channel_cursor& at, bool threads) {
  page_view v;
  simdjson::dom::element root;
  simdjson::dom::array messages;
  if (json::parse_padded(parser, body, root) != simdjson::SUCCESS ||
      root["messages"].get(messages) != simdjson::SUCCESS)
    throw source_error("Slack answered without a messages list");
  for (simdjson::dom::element e : messages) {
    simdjson::dom::object m;
    if (e.get_object().get(m) != simdjson::SUCCESS) continue;
    ++v.messages;
    const std::string_view ts = slack::str(m, "ts");
    if (ts.size() > v.newest.size() || (ts.size() == v.newest.size() && ts > v.newest)) v.newest = ts;
    if (ts == skip_parent) continue;  // replies pages may repeat their parent
    v.ids.emplace_back(ts);
    if (!threads) continue;
    const std::string_view thread_ts = slack::str(m, "thread_ts");
    std::int64_t replies = 0;
    if (m["reply_count"].get_int64().get(replies) != simdjson::SUCCESS) replies = 0;
    const bool is_root = replies > 0 || (!thread_ts.empty() && thread_ts == ts);
    if (!is_root) continue;
    // A later pass reads only the threads whose latest reply is past the last pass.
    const std::string_view latest_reply = slack::str(m, "latest_reply");
    if (!at.replies_since.empty() && !latest_reply.empty() && latest_reply <= at.replies_since) continue;
    v.roots.emplace_back(ts);
  }
  return v;
}

// What to tell a person about a conversation the token cannot read.
std::string fix_for(const answer& a) {
  if (a.error == "not_in_channel")
    return "the app is not a member: invite it (/invite @your-app in the channel), or leave the channel out "
           "of source.channels";
  if (a.error == "channel_not_found")
    return "no such conversation for this token: check the id or name in source.channels (a private "
           "channel needs the app invited and the groups:history scope)";
  if (a.error == "missing_scope")
    return fmt::format(
        "the token lacks the scope {}; add it to the app's OAuth scopes (OAuth & "
        "Permissions) and reinstall the app",
        a.needed.empty() ? "this conversation type needs" : a.needed);
  return "Slack's error " + a.error;
}

params history_args(const std::string& channel, int limit, const std::string& oldest,
                    const std::string& latest, const std::string& cursor) {
  return {{"channel", channel}, {"limit", std::to_string(limit)}, {"oldest", oldest},
          {"latest", latest},   {"inclusive", "false"},           {"cursor", cursor}};
}

}  // namespace

std::string ts_of_seconds(std::int64_t seconds) { return fmt::format("{}.000000", seconds); }

void fetch_conversation(web_api& api, const slack_api_options& options, const partition_plan& partition,
                        channel_cursor at, page_sink& out, run_context& ctx) {
  const std::string& channel = partition.name;
  simdjson::dom::parser parser;
  http::pagination_guard history_guard(fmt::format("Slack conversations.history of {}", partition.label));
  std::unique_ptr<http::pagination_guard> thread_guard;
  while (!at.finished()) {
    ctx.checkpoint();
    const bool replies = !at.roots.empty();
    const std::string_view method = replies ? "conversations.replies" : "conversations.history";
    const int limit = api.pace().page_limit(method, options.page_size);
    const params args = replies ? params{{"channel", channel},
                                         {"limit", std::to_string(limit)},
                                         {"ts", at.roots.front()},
                                         {"cursor", at.replies}}
                                : history_args(channel, limit, at.oldest, at.latest, at.history);
    answer a = api.call(method, args, ctx);
    if (a.error == "invalid_cursor") {
      // A saved cursor Slack no longer takes (an old resume): read that part again from its start.
      logger()->warn("Slack: the saved cursor of {} for {} expired; reading it again from its start", method,
                     partition.label);
      (replies ? at.replies : at.history).clear();
      continue;
    }
    if (a.error == "thread_not_found" && replies) {
      at.roots.erase(at.roots.begin());  // deleted since its root was read
      at.replies.clear();
      continue;
    }
    if (!a.error.empty()) {
      ctx.warn("slack " + a.error, fmt::format("Slack: {} ({}) cannot be read ({} on {}): {}",
                                               partition.label, channel, a.error, method, fix_for(a)));
      return;
    }
    const page_view v = read_page(parser, a.json(), replies ? std::string_view(at.roots.front()) : "", at,
                                  options.include_threads && !replies);
    std::string_view cursor_in = replies ? at.replies : at.history;
    if (replies) {
      if (!thread_guard || cursor_in.empty())
        thread_guard = std::make_unique<http::pagination_guard>(
            fmt::format("Slack conversations.replies of {} in {}", at.roots.front(), partition.label));
      thread_guard->check(cursor_in, a.resp.body, v.ids, a.next_cursor);
    } else {
      history_guard.check(cursor_in, a.resp.body, v.ids, a.next_cursor);
    }
    if (api.pace().saw_page(method, limit, v.messages, a.has_more || !a.next_cursor.empty()))
      logger()->info(
          "Slack: {} sent 15 messages of the {} asked: this app gets the 2025 limits of apps "
          "outside the Slack Marketplace (1 request a minute, 15 messages a page); pacing "
          "for them from now on",
          method, limit);
    if (replies) {
      at.replies = a.next_cursor;
      if (at.replies.empty()) at.roots.erase(at.roots.begin());
    } else {
      at.history = a.next_cursor;
      at.history_done = at.history.empty();
      at.roots = v.roots;
      at.replies.clear();
    }
    // The last page of a pass carries the pass's upper bound as the watermark the next run starts at.
    const bool last = at.finished();
    out.page(a.resp.body, static_cast<std::int64_t>(v.messages), last ? std::string() : at.encode(),
             last ? std::string_view(at.latest) : std::string_view());
  }
}

void list_thread_ids(web_api& api, const slack_api_options& options, const partition_plan& partition,
                     const std::string& oldest, const item_fn& fn, run_context& ctx) {
  const std::string& channel = partition.name;
  simdjson::dom::parser parser;
  const std::string what = fmt::format("Slack conversations.history listing of {}", partition.label);
  std::optional<http::pagination_guard> guard(std::in_place, what);
  std::string cursor, id;
  for (;;) {
    ctx.checkpoint();
    const std::string_view method = "conversations.history";
    const int limit = api.pace().page_limit(method, options.page_size);
    const answer a = api.call(method, history_args(channel, limit, oldest, "", cursor), ctx);
    if (a.error == "invalid_cursor") {
      cursor.clear();  // ids are deduplicated by reconcile: listing again from the start is harmless
      guard.emplace(what);
      continue;
    }
    // A conversation that cannot be listed would look emptied: nothing may be deleted on its account.
    if (!a.error.empty())
      throw source_error(
          fmt::format("Slack: reconcile cannot list {} ({}): {} on {}: {}; nothing was deleted",
                      partition.label, channel, a.error, method, fix_for(a)));
    simdjson::dom::element root;
    simdjson::dom::array messages;
    if (json::parse_padded(parser, a.json(), root) != simdjson::SUCCESS ||
        root["messages"].get(messages) != simdjson::SUCCESS)
      throw source_error("Slack answered without a messages list");
    std::vector<std::string> ids;
    for (simdjson::dom::element e : messages) {
      simdjson::dom::object m;
      if (e.get_object().get(m) != simdjson::SUCCESS) continue;
      const auto p = slack::place(m);
      if (!p) continue;
      ids.emplace_back(p->ts);
      if (p->reply) continue;  // a thread broadcast: its document is its thread's
      id.assign("slack:").append(channel).append(":").append(p->ts);
      fn(id);
    }
    guard->check(cursor, a.resp.body, ids);
    if (a.next_cursor.empty()) return;
    cursor = a.next_cursor;
  }
}

}  // namespace backfill::slack_api
