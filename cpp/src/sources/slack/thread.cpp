#include "backfill/sources/slack/thread.hpp"

#include <simdjson.h>

#include <algorithm>
#include <cctype>
#include <utility>

#include "backfill/core/json.hpp"
#include "backfill/sources/slack/ts.hpp"
#include "sources/slack/fields.hpp"

namespace backfill::slack {
namespace {

std::string_view trim(std::string_view s) noexcept {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return s;
}

std::string_view first_line(std::string_view s) noexcept {
  s = trim(s);
  return trim(s.substr(0, s.find('\n')));
}

// The newer copy of a message seen twice wins (by edit time), otherwise the first.
void keep_newer(message& have, message&& other) {
  if (other.edited_us > have.edited_us) have = std::move(other);
}

}  // namespace

std::optional<placement> place(simdjson::dom::object m) {
  placement p;
  p.ts = str(m, "ts");
  auto ts = parse_ts(p.ts);
  if (!ts) return std::nullopt;
  p.ts_us = *ts;
  p.root_us = p.ts_us;
  p.root_ts = p.ts;
  const std::string_view thread_ts = str(m, "thread_ts");
  if (!thread_ts.empty() && thread_ts != p.ts) {
    if (auto root = parse_ts(thread_ts)) {
      p.reply = true;
      p.root_us = *root;
      p.root_ts = thread_ts;
    }
  }
  return p;
}

void thread::add(message&& m, bool reply) {
  if (reply) {
    replies.push_back(std::move(m));
  } else if (parent) {
    keep_newer(*parent, std::move(m));
  } else {
    parent = std::move(m);
  }
}

document thread_document(thread&& t, const conversation_ref& conversation) {
  std::sort(t.replies.begin(), t.replies.end(),
            [](const message& a, const message& b) { return a.ts_us < b.ts_us; });
  std::vector<message> replies;
  replies.reserve(t.replies.size());
  for (auto& r : t.replies) {
    if (t.parent && r.ts_us == t.parent->ts_us) {
      keep_newer(*t.parent, std::move(r));
    } else if (!replies.empty() && replies.back().ts_us == r.ts_us) {
      keep_newer(replies.back(), std::move(r));
    } else {
      replies.push_back(std::move(r));
    }
  }

  const std::string channel_id(conversation.id);
  const std::string channel_name(conversation.name);
  document doc;
  doc.id = "slack:" + channel_id + ":" + t.root_ts;
  doc.source = std::string(conversation.source);
  doc.partition = channel_id;

  const message* head = t.parent ? &*t.parent : (replies.empty() ? nullptr : &replies.front());
  std::string_view line;
  if (head) {
    line = first_line(head->text);
    if (line.empty() && !head->extras.empty()) line = first_line(head->extras.front());
  }
  if (line.empty()) line = "(no text)";
  doc.title = conversation.direct ? channel_name : "#" + channel_name;
  doc.title += ": ";
  if (!t.parent) doc.title += "[thread whose parent message is missing] ";
  doc.title += json::utf8_prefix(line, 80);

  std::string ts_digits;
  for (char c : t.root_ts)
    if (c != '.') ts_digits.push_back(c);
  doc.url = std::string(conversation.base_url) + "/archives/" + channel_id + "/p" + ts_digits;

  const auto root_us = parse_ts(t.root_ts).value_or(head ? head->ts_us : 0);
  doc.created_at = iso_utc(root_us);
  std::int64_t updated = root_us;

  std::vector<std::string> participants;
  bool has_files = false;
  auto add = [&](const message& m) {
    updated = std::max({updated, m.ts_us, m.edited_us});
    has_files = has_files || m.has_files;
    if (std::find(participants.begin(), participants.end(), m.author) == participants.end())
      participants.push_back(m.author);
    if (!doc.text.empty()) doc.text += "\n\n";
    append_message(doc.text, m);
  };
  if (t.parent) add(*t.parent);
  for (const auto& r : replies) add(r);
  doc.updated_at = iso_utc(updated);

  doc.meta.set("channel", channel_name);
  doc.meta.set("channel_id", channel_id);
  doc.meta.set("author", head ? head->author : std::string());
  doc.meta.set("participants", std::move(participants));
  doc.meta.set("reply_count", static_cast<double>(replies.size()));
  doc.meta.set("has_files", has_files);
  doc.meta.set("thread", !replies.empty());
  if (!t.parent) doc.meta.set("parent_missing", true);
  return doc;
}

}  // namespace backfill::slack
