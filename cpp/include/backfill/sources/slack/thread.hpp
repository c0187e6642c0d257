// Slack threads as documents: where a message belongs (the root of its thread), a thread gathered
// from messages arriving in any order and more than once, and a thread as one document. Shared by the
// Slack sources, so a thread reads the same whichever source fetched its messages.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "backfill/core/document.hpp"
#include "backfill/sources/slack/render.hpp"

namespace simdjson::dom {
class object;
}

namespace backfill::slack {

// Where a message belongs: the root of its thread, and whether it is a reply. The views point into
// the message's JSON.
struct placement {
  std::int64_t ts_us = 0;
  std::string_view ts;
  std::int64_t root_us = 0;
  std::string_view root_ts;
  bool reply = false;
};

// nullopt when the message has no usable ts. A thread_ts other than its own ts (and readable) makes
// it a reply, thread broadcasts included.
std::optional<placement> place(simdjson::dom::object m);

struct thread {
  std::string root_ts;
  std::optional<message> parent;
  std::vector<message> replies;  // in arrival order, duplicates included

  // Adds a message of this thread. A message seen twice keeps its newer copy (by edit time, else the
  // first).
  void add(message&& m, bool reply);
};

// The conversation a thread belongs to.
struct conversation_ref {
  std::string_view id;        // the partition, and part of the document id
  std::string_view name;      // the title's "#name"; a DM's members ("Ada, Kenji")
  std::string_view source;    // document.source
  std::string_view base_url;  // the workspace, for message links ("https://acme.slack.com")
  bool direct = false;        // a DM or group DM: its title has no '#'
};

// The thread as one document, id `slack:<channel id>:<root ts>`: the parent, then the replies by ts,
// one message a paragraph; the title is the conversation and the first line of the first message
// (or says the parent is missing). Metadata: channel, channel_id, author, participants,
// reply_count, has_files, thread (and parent_missing when it is).
document thread_document(thread&& t, const conversation_ref& conversation);

}  // namespace backfill::slack
