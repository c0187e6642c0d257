// Source: a Slack workspace read through the Web API with a bot (or user) token.
//   - Partitions: "_workspace" (the users.list and conversations.list pages, journaled as they came,
//     for names) and one per conversation, keyed by its id.
//   - A conversation's pages: conversations.history pages (newest first, between an `oldest` and a
//     `latest` fixed when the pass starts), and after each, conversations.replies pages of that page's
//     thread roots (reply_count > 0 or thread_ts == ts). Each response is journaled as it came before
//     the cursor (cursor.hpp) moves past it, so a kill loses at most the request in flight.
//   - Documents: the export source's (sources/slack): one per thread or lone message, id
//     `slack:<channel id>:<thread ts>`, rendered by the same code, so the same messages read the same.
//   - Incremental: a later run reads history after the channel's watermark (the `latest` of the last
//     finished pass) minus `thread_lookback_days`, and the replies of every root seen there whose
//     `latest_reply` is past the watermark; unchanged documents are then skipped by content hash.
//     Replies to older roots are not seen (history lists a thread under its root's time, and Slack
//     offers a bot no "threads changed since"): `--refetch <channel>` reads a channel whole again.
//   - Deletions: `list_ids` lists the top-level messages of each conversation, so reconcile removes
//     the documents of deleted messages and threads (a deleted root with replies stays as Slack's
//     tombstone). A deleted reply leaves its thread's document until the thread is read again.
//   - Pacing (pacer.hpp): a token bucket per method at its tier's rate (Tier 2 for the lists, Tier 3
//     for history and replies), or the 2025 limits of apps outside the Marketplace (1 request a
//     minute and 15 messages a page for history and replies); `tier = "auto"` starts at Tier 3 and
//     switches when the answers show the lower limits (a 429 on those methods, or pages cut to 15).
//     429s and `ratelimited` bodies are retried after Retry-After by the HTTP engine.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "backfill/core/fields.hpp"
#include "backfill/sources/source.hpp"

namespace backfill {

struct slack_api_options {
  std::string token;  // xoxb-... (bot) or xoxp-... (user); sent only to base_url's host
  // "#name", "name", a conversation id ("C0123"), or "*" (every conversation of `types` the token reads).
  std::vector<std::string> channels = {"*"};
  // Conversation types for "*" and name lookups: public_channel, private_channel, mpim, im.
  std::vector<std::string> types = {"public_channel", "private_channel"};
  std::string since;  // "2024-01-31": history from that day (UTC) on the first run; "" = all
  bool include_threads = true;
  std::string tier = "auto";  // auto | marketplace | non_marketplace
  std::string base_url = "https://slack.com/api";
  std::string workspace_url;  // "https://acme.slack.com", for message links; optional
  int page_size = 200;        // `limit` asked of every list, history and replies call
  int thread_lookback_days = 7;
  bool include_archived = false;
  // Multiplies every rate Slack allows (a Slack-compatible server with other limits; tests).
  double rate_scale = 1.0;
  double timeout = 60;
  bool verify_tls = true;
  std::vector<std::string> skip_subtypes = {"channel_join",    "channel_leave", "channel_topic",
                                            "channel_purpose", "channel_name",  "pinned_item"};
};
BACKFILL_FIELDS(slack_api_options, &s::token, &s::channels, &s::types, &s::since, &s::include_threads,
                &s::tier, &s::base_url, &s::workspace_url, &s::page_size, &s::thread_lookback_days,
                &s::include_archived, &s::rate_scale, &s::timeout, &s::verify_tls, &s::skip_subtypes)

class slack_api_source final : public source {
 public:
  explicit slack_api_source(slack_api_options options);
  ~slack_api_source() override;

  std::string kind() const override { return "slack"; }
  std::string describe() const override;
  std::vector<partition_plan> plan(run_context& ctx) override;
  // A conversation the plan's sample read whole (pipeline/plan_sample.hpp) needs one request per page
  // it read: its time at the pace of the current tier follows from them.
  void estimate(std::vector<partition_plan>& partitions, run_context& ctx) override;
  bool incremental() const override { return true; }
  std::string reopen_cursor(const partition_plan& partition, std::string_view watermark) override;
  void fetch(const partition_plan& partition, std::string_view cursor, page_sink& out,
             run_context& ctx) override;
  void page_items(std::string_view partition, const std::string& body, const item_fn& fn) override;
  // auth.test and the scopes `types` needs, then the pagination probe.
  void preflight(preflight_checks& out, run_context& ctx) override;
  // A conversation's pages keep their messages under "messages", each named by its ts.
  json::item_layout journal_items(std::string_view partition) const override;
  // Reconcile: a conversation's documents now, from its history alone (one request a page of
  // top-level messages, paced as the fetch is), so documents of deleted messages and threads go.
  bool can_list_ids() const override { return true; }
  void list_ids(const partition_plan& partition, const item_fn& fn, run_context& ctx) override;
  void normalize(std::string_view partition, page_reader& pages, const document_fn& emit,
                 run_context& ctx) override;

  // Requests made so far, by method, and the seconds spent waiting for the pacer.
  std::int64_t requests() const;
  double paced_seconds() const;

  static constexpr const char* workspace_partition = "_workspace";

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

}  // namespace backfill
