#include "backfill/sources/slack/render.hpp"

#include <simdjson.h>

#include <optional>
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

// The fields of a message that its reading needs, gathered in one pass over its keys (a lookup
// per field would walk the keys again for each). The first of a repeated key wins, as in a lookup.
struct message_fields {
  std::string_view text, subtype, user, bot_id, username;
  std::optional<object> edited, file, bot_profile, user_profile;
  std::optional<simdjson::dom::array> blocks, files, attachments;
};

message_fields gather(object m) {
  message_fields f;
  const auto text = [](element v, std::string_view& out) {
    if (out.empty() && v.get_string().get(out) != simdjson::SUCCESS) out = {};
  };
  const auto object_of = [](element v, std::optional<object>& out) {
    object o;
    if (!out && v.get_object().get(o) == simdjson::SUCCESS) out = o;
  };
  const auto array_of = [](element v, std::optional<simdjson::dom::array>& out) {
    simdjson::dom::array a;
    if (!out && v.get_array().get(a) == simdjson::SUCCESS) out = a;
  };
  for (const auto field : m) {
    const std::string_view key = field.key;
    switch (key.size()) {
      case 4:
        if (key == "text")
          text(field.value, f.text);
        else if (key == "user")
          text(field.value, f.user);
        else if (key == "file")
          object_of(field.value, f.file);
        break;
      case 5:
        if (key == "files") array_of(field.value, f.files);
        break;
      case 6:
        if (key == "blocks")
          array_of(field.value, f.blocks);
        else if (key == "edited")
          object_of(field.value, f.edited);
        else if (key == "bot_id")
          text(field.value, f.bot_id);
        break;
      case 7:
        if (key == "subtype") text(field.value, f.subtype);
        break;
      case 8:
        if (key == "username") text(field.value, f.username);
        break;
      case 11:
        if (key == "attachments")
          array_of(field.value, f.attachments);
        else if (key == "bot_profile")
          object_of(field.value, f.bot_profile);
        break;
      case 12:
        if (key == "user_profile") object_of(field.value, f.user_profile);
        break;
      default: break;
    }
  }
  return f;
}

std::string author_from(const message_fields& m, const directory& dir) {
  if (m.subtype == "bot_message" || !m.bot_id.empty()) {
    std::string name(m.username);
    if (name.empty() && m.bot_profile) name = std::string(str(*m.bot_profile, "name"));
    if (name.empty() && !m.user.empty())
      if (const std::string* known = dir.user(m.user)) name = *known;
    if (name.empty())
      if (const std::string* known = dir.bot(m.bot_id)) name = *known;
    if (name.empty()) name = std::string(m.bot_id);
    if (name.empty()) name = "bot";
    return name + " (bot)";
  }
  if (!m.user.empty()) {
    if (const std::string* known = dir.user(m.user)) return *known;
    if (m.user_profile) {
      for (auto key : {"display_name", "real_name", "name"})
        if (auto v = str(*m.user_profile, key); !v.empty()) return std::string(v);
    }
    return std::string(m.user);
  }
  if (!m.username.empty()) return std::string(m.username);
  return "unknown";
}

}  // namespace

std::string author_of(object m, const directory& dir) { return author_from(gather(m), dir); }

message read_message(object m, std::string_view ts, std::int64_t ts_us, const directory& dir) {
  const message_fields f = gather(m);
  message msg;
  msg.ts_us = ts_us;
  msg.ts = std::string(ts);
  msg.author = author_from(f, dir);
  // Slack shows a message's blocks when it has any; its text is then the notification's fallback.
  if (f.blocks) append_blocks(msg.text, *f.blocks, dir);
  if (msg.text.empty()) append_text(msg.text, f.text, dir);
  if (f.edited) {
    msg.edited = true;
    if (auto ets = parse_ts(str(*f.edited, "ts"))) msg.edited_us = *ets;
  }
  const auto file = [](std::string& out, object o) { append_file(out, o); };
  if (f.files) {
    msg.has_files = f.files->size() > 0;
    add_extras(msg.extras, *f.files, file);
  } else if (f.file) {  // older exports: a single file object
    msg.has_files = true;
    std::string extra;
    append_file(extra, *f.file);
    if (!extra.empty()) msg.extras.push_back(std::move(extra));
  }
  if (f.attachments)
    add_extras(msg.extras, *f.attachments,
               [&](std::string& out, object a) { append_attachment(out, a, dir); });
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
