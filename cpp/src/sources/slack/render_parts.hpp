// The parts of a Slack message as a reader sees them (render.hpp puts them together): Slack's markup
// (mrkdwn.cpp), attachments in Slack's display order (render_attachments.cpp), Block Kit
// (render_blocks.cpp) and files (render_files.cpp). Each appends to `out`; none allocates per
// character or uses a regex, since every message of an export passes through here.
#pragma once

#include <string>
#include <string_view>

#include <simdjson.h>

#include "backfill/sources/slack/directory.hpp"

namespace backfill::slack {

// render_text, appending.
void append_text(std::string& out, std::string_view markup, const directory& dir);
// unescaped, appending.
void append_unescaped(std::string& out, std::string_view s);
// A link as a reader sees it: "label (url)", or the url alone when the label says nothing more.
void append_link(std::string& out, std::string_view url, std::string_view label);

// Starts a new line unless `out` is empty or already ends one.
inline void new_line(std::string& out) {
  if (!out.empty() && out.back() != '\n') out.push_back('\n');
}

// Block Kit blocks (a message's or an attachment's "blocks"), a line or more each.
void append_blocks(std::string& out, simdjson::dom::array blocks, const directory& dir);

// One attachment: its pretext on a line of its own (Slack shows it above the card), then the card
// "[attachment: author: title: text link" with its fields and footer on the lines after, then "]".
// Appends nothing for an attachment without visible content.
void append_attachment(std::string& out, simdjson::dom::object attachment, const directory& dir);

// One file: "[file: title (name)]", then the preview lines a snippet shows. Appends nothing for a
// file without a title or name (a deleted file's tombstone).
void append_file(std::string& out, simdjson::dom::object file);

}  // namespace backfill::slack
