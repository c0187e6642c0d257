// Slack Web API source: the workspace's lists, then each conversation's history and threads, paced
// for Slack's limits, journaled answer by answer; documents rendered as the export source renders them.
//   pacer.*      the rate of each method, and what tier "auto" learns
//   web_api.*    one method call: paced, authorized, its answer read; token errors stop the run
//   workspace.*  conversations.list and users.list, the conversations picked, the names read back
//   history.*    a conversation's history and replies pages
//   cursor.*     where a conversation's fetch stands
#include "backfill/sources/slack_api/slack_api.hpp"

#include <simdjson.h>

#include <atomic>
#include <cstdlib>
#include <ctime>
#include <optional>
#include <unordered_set>

#include <fmt/format.h>

#include "backfill/core/errors.hpp"
#include "backfill/core/log.hpp"
#include "backfill/http/scrub.hpp"
#include "backfill/preflight/preflight.hpp"
#include "backfill/sources/slack/thread.hpp"
#include "backfill/sources/slack/ts.hpp"
#include "sources/slack/fields.hpp"
#include "sources/slack/page_json.hpp"
#include "sources/slack/threads.hpp"
#include "sources/slack_api/history.hpp"
#include "sources/slack_api/preflight.hpp"
#include "sources/slack_api/web_api.hpp"
#include "sources/slack_api/workspace.hpp"

namespace backfill {

using slack_api::channel_cursor;

namespace {

std::int64_t parse_day(std::string_view d) {
  std::tm tm{};
  const std::string s(d);
  const char* end = strptime(s.c_str(), "%Y-%m-%d", &tm);
  if (!end || *end != '\0') return -1;
  return timegm(&tm);
}

std::string now_ts() { return slack_api::ts_of_seconds(static_cast<std::int64_t>(std::time(nullptr))); }

}  // namespace

struct slack_api_source::impl {
  slack_api_options options;
  std::string base_url;  // the workspace, for message links
  std::unordered_set<std::string> skip;
  slack_api::web_api api;
  slack_api::workspace_lists lists{api, options};
  slack::parser_pool parsers;

  explicit impl(slack_api_options opts) : options(std::move(opts)), api(check(options)) {
    base_url = options.workspace_url.empty() ? std::string("https://slack.com") : options.workspace_url;
    while (!base_url.empty() && base_url.back() == '/') base_url.pop_back();
    skip.insert(options.skip_subtypes.begin(), options.skip_subtypes.end());
  }

  // History's lower bound from `since` ("" = all).
  std::string since_ts() const {
    return options.since.empty() ? std::string() : slack_api::ts_of_seconds(parse_day(options.since));
  }

  // Said once a run, when the first conversation is read again: what a later pass does not see.
  std::atomic<bool> told_lookback{false};
  void say_lookback() {
    if (told_lookback.exchange(true)) return;
    logger()->info(
        "Slack: later runs read replies only of threads started in the last {} days "
        "(source.thread_lookback_days); replies to older threads are not seen (Slack's history lists a "
        "thread under its start), nor are deleted replies. To catch them, fetch a channel whole again: "
        "backfill fetch CONFIG --refetch <channel id>; `backfill reconcile` removes deleted messages",
        options.thread_lookback_days);
  }

  static const slack_api_options& check(const slack_api_options& o) {
    if (o.token.empty())
      throw config_error(
          "source.token is required (a bot token, set from the environment: token = \"${SLACK_BOT_TOKEN}\")");
    if (o.base_url.empty()) throw config_error("source.base_url must not be empty (https://slack.com/api)");
    if (o.channels.empty()) throw config_error("source.channels is empty: name channels, ids, or \"*\"");
    if (!o.since.empty() && parse_day(o.since) < 0)
      throw config_error(fmt::format("source.since must look like 2024-01-31, got '{}'", o.since));
    if (o.page_size < 1 || o.page_size > 999)
      throw config_error(fmt::format("source.page_size must be between 1 and 999, got {}", o.page_size));
    if (o.thread_lookback_days < 0) throw config_error("source.thread_lookback_days must be 0 or more");
    if (!(o.rate_scale > 0)) throw config_error("source.rate_scale must be positive");
    for (const auto& t : o.types)
      if (t != "public_channel" && t != "private_channel" && t != "mpim" && t != "im")
        throw config_error(
            fmt::format("source.types: '{}' is not one of public_channel, private_channel, mpim, im", t));
    slack_api::parse_tier(o.tier);
    return o;
  }

  // The time the plan will take at the pace of the current tier, said once at the start.
  void say_estimate(std::size_t conversations) {
    auto& p = api.pace();
    const bool low = p.non_marketplace();
    const double per_minute = p.limit("conversations.history").per_minute * options.rate_scale;
    const double seconds = p.seconds_for("conversations.history", static_cast<std::int64_t>(conversations));
    logger()->info(
        "Slack: {} conversations; history at {:g} requests a minute ({}) of up to {} messages: at least "
        "{:.0f} s, plus {:.1f} s for each further page and each thread{}",
        conversations, per_minute,
        low                      ? "non-Marketplace limits"
        : options.tier == "auto" ? "Tier 3; apps outside the Slack Marketplace get 1 a minute from 2025"
                                 : "Tier 3",
        p.page_limit("conversations.history", options.page_size), seconds, 60.0 / per_minute,
        low ? " (100,000 messages take about 111 h)" : "");
  }
};

slack_api_source::slack_api_source(slack_api_options options)
    : impl_(std::make_unique<impl>(std::move(options))) {}

slack_api_source::~slack_api_source() = default;

void slack_api_source::preflight(preflight_checks& out, run_context& ctx) {
  slack_api::check_token(impl_->api, impl_->options, out, ctx);
  probe_pagination(*this, out, ctx, 1);  // the first conversation: the workspace's lists come first
}

std::string slack_api_source::describe() const {
  return "Slack Web API " + http::scrub_url(impl_->api.base_url());
}

std::int64_t slack_api_source::requests() const { return impl_->api.requests(); }
double slack_api_source::paced_seconds() const { return impl_->api.paced_seconds(); }

std::vector<partition_plan> slack_api_source::plan(run_context& ctx) {
  // A plan starts a run: the lists are read afresh, and what a run says once is said again.
  impl_->lists.start_run();
  impl_->told_lookback = false;
  std::vector<partition_plan> out;
  partition_plan workspace;
  workspace.name = workspace_partition;
  workspace.label = "workspace (users and conversations)";
  workspace.estimated_pages = static_cast<std::int64_t>(impl_->lists.pages(ctx).size());
  workspace.estimated_requests = 0;  // the plan has read the lists already
  workspace.estimated_seconds = 0;
  out.push_back(std::move(workspace));
  // The least each conversation needs: one history request (further pages and threads show only as
  // it is read), its share of the time at the pace of the current tier, the first request at once.
  const auto& pace = impl_->api.pace();
  const std::string_view history = "conversations.history";
  std::int64_t sent = 0;
  // Under the non-Marketplace limits a history page costs a minute: the plan reads no sample of it.
  const bool costly = pace.non_marketplace();
  for (auto& p : slack_api::pick(impl_->options, impl_->lists.conversations(ctx))) {
    if (costly) p.sampled_items = -1;
    p.estimated_requests = 1;
    p.estimated_seconds = pace.seconds_for(history, sent + 1) - pace.seconds_for(history, sent);
    sent += p.estimated_requests;
    out.push_back(std::move(p));
  }
  impl_->say_estimate(out.size() - 1);
  return out;
}

void slack_api_source::estimate(std::vector<partition_plan>& partitions, run_context&) {
  const auto& pace = impl_->api.pace();
  const std::string_view history = "conversations.history";
  std::int64_t sent = 0;
  for (auto& p : partitions) {
    if (p.name == workspace_partition) continue;
    if (p.estimated_pages > p.estimated_requests) p.estimated_requests = p.estimated_pages;
    p.estimated_seconds =
        pace.seconds_for(history, sent + p.estimated_requests) - pace.seconds_for(history, sent);
    sent += p.estimated_requests;
  }
}

std::string slack_api_source::reopen_cursor(const partition_plan& partition, std::string_view watermark) {
  if (partition.name == workspace_partition) return {};
  channel_cursor c;
  c.latest = now_ts();
  const auto mark = slack::parse_ts(watermark);
  if (!mark) {
    c.oldest = impl_->since_ts();
    return c.encode();
  }
  // History from the watermark back `thread_lookback_days`: new messages, recent edits, and the roots
  // whose threads got replies since (read again when their latest_reply is past the watermark).
  impl_->say_lookback();
  const std::int64_t back = static_cast<std::int64_t>(impl_->options.thread_lookback_days) * 86400;
  c.oldest = slack_api::ts_of_seconds(*mark / 1000000 - back);
  c.replies_since = std::string(watermark);
  return c.encode();
}

void slack_api_source::fetch(const partition_plan& partition, std::string_view cursor, page_sink& out,
                             run_context& ctx) {
  if (partition.name == workspace_partition) {
    const auto& pages = impl_->lists.pages(ctx);
    std::size_t start = 0;
    if (!cursor.empty())
      start = static_cast<std::size_t>(std::strtoull(std::string(cursor).c_str(), nullptr, 10));
    for (std::size_t i = start; i < pages.size(); ++i)
      out.page(pages[i], 0, i + 1 < pages.size() ? std::to_string(i + 1) : std::string());
    impl_->lists.used();
    return;
  }
  std::optional<channel_cursor> at;
  if (cursor.empty()) {
    at = channel_cursor::decode(reopen_cursor(partition, {}));
  } else {
    at = channel_cursor::decode(cursor);
    if (!at)
      throw source_error(
          fmt::format("Slack: the saved cursor of {} is not one this source wrote; fetch it "
                      "again from the start (backfill fetch --refetch {})",
                      partition.label, partition.name));
  }
  slack_api::fetch_conversation(impl_->api, impl_->options, partition, std::move(*at), out, ctx);
}

void slack_api_source::page_items(std::string_view partition, const std::string& body, const item_fn& fn) {
  if (partition == workspace_partition) return;
  const auto messages = slack::journal_array(body, "Slack page of " + std::string(partition), "messages");
  // A replies page repeats its parent (also on the history page) and thread broadcasts: each message
  // counts where it belongs, the roots on history pages and the replies on replies pages.
  bool replies_page = false;
  std::string id;
  for (simdjson::dom::element e : messages) {
    simdjson::dom::object m;
    if (e.get_object().get(m) != simdjson::SUCCESS) continue;
    const auto p = slack::place(m);
    if (!p) continue;
    replies_page = replies_page || p->reply;
  }
  for (simdjson::dom::element e : messages) {
    simdjson::dom::object m;
    if (e.get_object().get(m) != simdjson::SUCCESS) continue;
    const auto p = slack::place(m);
    if (!p || p->reply != replies_page) continue;
    id.assign("slack:").append(partition).append(":").append(p->ts);
    fn(id);
  }
}

json::item_layout slack_api_source::journal_items(std::string_view partition) const {
  if (partition == workspace_partition) return {};
  return slack_api::message_items(partition);
}

void slack_api_source::list_ids(const partition_plan& partition, const item_fn& fn, run_context& ctx) {
  if (partition.name == workspace_partition) return;
  slack_api::list_thread_ids(impl_->api, impl_->options, partition, impl_->since_ts(), fn, ctx);
}

void slack_api_source::normalize(std::string_view partition, page_reader& pages, const document_fn& emit,
                                 run_context& ctx) {
  if (partition == workspace_partition) return;
  const slack::directory dir = slack_api::load_directory(pages);
  const std::string* name = dir.channel(partition);
  const bool direct = dir.direct(partition);
  const std::string channel_name = direct ? dir.title(partition) : name ? *name : std::string(partition);
  const std::string source_kind = kind();
  const slack::conversation_ref conversation{partition, channel_name, source_kind, impl_->base_url, direct};
  slack::emit_threads(pages, conversation, dir, impl_->skip, emit, ctx, "messages");
}

}  // namespace backfill
