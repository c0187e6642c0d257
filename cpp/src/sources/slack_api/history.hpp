// One conversation's pages: conversations.history over the cursor's window, newest first, and after
// each history page the conversations.replies pages of its thread roots, every answer journaled as it
// came before the cursor moves past it. A conversation the token cannot read (not_in_channel,
// channel_not_found, missing_scope, ...) is a warning naming it and the fix; the others go on.
#pragma once

#include <string>
#include <unordered_set>

#include "backfill/core/context.hpp"
#include "backfill/sources/slack_api/cursor.hpp"
#include "backfill/sources/slack_api/slack_api.hpp"
#include "backfill/sources/source.hpp"
#include "sources/slack_api/web_api.hpp"

namespace backfill::slack_api {

void fetch_conversation(web_api& api, const slack_api_options& options, const partition_plan& partition,
                        channel_cursor at, page_sink& out, run_context& ctx);

// The ids of the documents the conversation holds now: one per top-level message (a thread's root or a
// lone message) from `oldest` on, read from conversations.history alone (replies never make a
// document of their own). Throws source_error when the conversation cannot be listed, so that
// reconcile deletes nothing on a listing that only looks empty.
void list_thread_ids(web_api& api, const slack_api_options& options, const partition_plan& partition,
                     const std::string& oldest, const item_fn& fn, run_context& ctx);

// Slack's ts of a time: "1699999999.000000".
std::string ts_of_seconds(std::int64_t seconds);

}  // namespace backfill::slack_api
