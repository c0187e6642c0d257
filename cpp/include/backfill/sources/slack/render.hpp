// Slack messages as a reader sees them: the markup rendered (escapes, mentions, channel links,
// special mentions, URLs with their labels, formatting marks hidden), Block Kit in place of the
// fallback text, the author named, files (with a snippet's preview lines) and attachments (pretext,
// author, title, text, fields, footer) as labelled lines. It reads message objects and knows nothing
// of where they come from (an export's day files, the Web API's history pages), so every Slack
// source writes the same text for the same messages.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "backfill/sources/slack/directory.hpp"

namespace simdjson::dom {
class object;
}

namespace backfill::slack {

// Slack's markup as plain text: *bold*, _italic_, ~strike~, `code` and ```blocks``` without their
// marks; &amp; &lt; &gt; decoded; <@U1> and <#C1> as @name and #name (the directory's name, else the
// entity's label, else the id); <!here> and the like as @here; <url|label>
// as "label (url)", or the url alone when the label says nothing more. A stray '<' stays text.
std::string render_text(std::string_view markup, const directory& dir);

// &amp;, &lt; and &gt; decoded; every other '&' kept as it is.
std::string unescaped(std::string_view s);

// One message, read.
struct message {
  std::int64_t ts_us = 0;
  std::int64_t edited_us = -1;  // the edit's time, -1 when never edited (or the time is unreadable)
  std::string ts;
  std::string author;
  std::string text;                 // rendered
  std::vector<std::string> extras;  // [file: ...], an attachment's pretext and [attachment: ...]
  bool edited = false;
  bool has_files = false;
};

// Reads message object `m` whose ts is `ts` (`ts_us` in microseconds).
message read_message(simdjson::dom::object m, std::string_view ts, std::int64_t ts_us, const directory& dir);

// Who wrote `m`: a bot by its username, bot profile, user, the directory's name of its bot id, or
// the bot id, marked " (bot)"; a user by the directory's name, else the profile the message carries,
// else the id; else the username; else "unknown".
std::string author_of(simdjson::dom::object m, const directory& dir);

// Appends `m` as it reads in a document: "author (2023-11-14T22:13:19Z) (edited): text", then its
// files and attachments, one a line.
void append_message(std::string& out, const message& m);

}  // namespace backfill::slack
