// A conversation's journaled pages (an export's day files, Web API history and replies answers) into
// thread documents, shared by the Slack sources. A thread may span pages (replies come on later days,
// sometimes before their parent's day in a shuffled export; a replies answer after its history page),
// so a first pass notes the last page of each thread, and the second emits each thread as soon as it
// is past that page: memory holds the open threads, never the conversation.
#pragma once

#include <string>
#include <string_view>
#include <unordered_set>

#include "backfill/core/context.hpp"
#include "backfill/sources/slack/directory.hpp"
#include "backfill/sources/slack/thread.hpp"
#include "backfill/sources/source.hpp"
#include "sources/slack/page_json.hpp"

namespace backfill::slack {

// `skip`: message subtypes left out. Messages without a readable ts are skipped and counted in a
// warning. A page is a JSON array of messages (a day file), or with `items_key` an object holding
// them under that key (a Web API answer's "messages": the Slack Web API source's pages). Each page
// is read from the parse the journal's check handed over (slack::journal_array).
void emit_threads(page_reader& pages, const conversation_ref& conversation, const directory& dir,
                  const std::unordered_set<std::string>& skip, const document_fn& emit, run_context& ctx,
                  std::string_view items_key = {});

}  // namespace backfill::slack
