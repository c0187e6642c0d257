#include "backfill/sources/slack/render.hpp"

#include <simdjson.h>

#include <utility>

#include "backfill/sources/slack/ts.hpp"
#include "sources/slack/fields.hpp"
#include "sources/slack/render_parts.hpp"

namespace backfill::slack {
namespace {

using simdjson::dom::element;
using simdjson::dom::object;

// A list of objects (files, attachments), each rendered by `append` into an extra of its own.
template <class Append>
void add_extras(std::vector<std::string>& extras, simdjson::dom::array list, const Append& append) {
  for (element e : list) {
    object o;
    if (e.get_object().get(o) != simdjson::SUCCESS) continue;
    std::string extra;
    append(extra, o);
    if (!extra.empty()) extras.push_back(std::move(extra));
  }
}

}  // namespace

std::string author_of(object m, const directory& dir) {
  const std::string_view subtype = str(m, "subtype");
  const std::string_view user = str(m, "user");
  if (subtype == "bot_message" || !str(m, "bot_id").empty()) {
    std::string name(str(m, "username"));
    if (name.empty())
      if (auto bot = obj(m, "bot_profile")) name = std::string(str(*bot, "name"));
    if (name.empty() && !user.empty())
      if (const std::string* known = dir.user(user)) name = *known;
    if (name.empty())
      if (const std::string* known = dir.bot(str(m, "bot_id"))) name = *known;
    if (name.empty()) name = std::string(str(m, "bot_id"));
    if (name.empty()) name = "bot";
    return name + " (bot)";
  }
  if (!user.empty()) {
    if (const std::string* known = dir.user(user)) return *known;
    if (auto profile = obj(m, "user_profile")) {
      for (auto key : {"display_name", "real_name", "name"})
        if (auto v = str(*profile, key); !v.empty()) return std::string(v);
    }
    return std::string(user);
  }
  if (auto name = str(m, "username"); !name.empty()) return std::string(name);
  return "unknown";
}

message read_message(object m, std::string_view ts, std::int64_t ts_us, const directory& dir) {
  message msg;
  msg.ts_us = ts_us;
  msg.ts = std::string(ts);
  msg.author = author_of(m, dir);
  // Slack shows a message's blocks when it has any; its text is then the notification's fallback.
  if (auto blocks = arr(m, "blocks")) append_blocks(msg.text, *blocks, dir);
  if (msg.text.empty()) append_text(msg.text, str(m, "text"), dir);
  if (auto edited = obj(m, "edited")) {
    msg.edited = true;
    if (auto ets = parse_ts(str(*edited, "ts"))) msg.edited_us = *ets;
  }
  const auto file = [](std::string& out, object f) { append_file(out, f); };
  if (auto files = arr(m, "files")) {
    msg.has_files = files->size() > 0;
    add_extras(msg.extras, *files, file);
  } else if (auto one = obj(m, "file")) {  // older exports: a single file object
    msg.has_files = true;
    std::string extra;
    append_file(extra, *one);
    if (!extra.empty()) msg.extras.push_back(std::move(extra));
  }
  if (auto attachments = arr(m, "attachments"))
    add_extras(msg.extras, *attachments, [&](std::string& out, object a) { append_attachment(out, a, dir); });
  return msg;
}

void append_message(std::string& out, const message& m) {
  out += m.author;
  out += " (";
  out += iso_utc(m.ts_us);
  out += ')';
  if (m.edited) out += " (edited)";
  out += ": ";
  std::size_t parts = 0;
  if (!m.text.empty()) {
    out += m.text;
    ++parts;
  }
  for (const auto& extra : m.extras) {
    if (parts++ > 0) out += '\n';
    out += extra;
  }
}

}  // namespace backfill::slack
