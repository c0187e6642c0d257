#include "backfill/sources/slack/render.hpp"

#include <simdjson.h>

#include <utility>

#include "backfill/sources/slack/ts.hpp"
#include "sources/slack/fields.hpp"

namespace backfill::slack {
namespace {

using simdjson::dom::element;
using simdjson::dom::object;

void append_unescaped(std::string& out, std::string_view s) {
  std::size_t i = 0;
  while (i < s.size()) {
    std::size_t amp = s.find('&', i);
    if (amp == std::string_view::npos) {
      out.append(s.substr(i));
      return;
    }
    out.append(s.substr(i, amp - i));
    std::string_view rest = s.substr(amp);
    if (rest.starts_with("&amp;")) {
      out.push_back('&');
      i = amp + 5;
    } else if (rest.starts_with("&lt;")) {
      out.push_back('<');
      i = amp + 4;
    } else if (rest.starts_with("&gt;")) {
      out.push_back('>');
      i = amp + 4;
    } else {
      out.push_back('&');
      i = amp + 1;
    }
  }
}

// One `<...>` entity of Slack's markup, without the brackets.
void render_entity(std::string& out, std::string_view tag, const directory& dir) {
  const std::size_t bar = tag.find('|');
  const std::string_view target = tag.substr(0, bar);
  const bool has_label = bar != std::string_view::npos;
  const std::string_view label = has_label ? tag.substr(bar + 1) : std::string_view{};
  if (target.empty()) {
    append_unescaped(out, label);
    return;
  }
  // <@U123|label> and <#C123|label>: the sigil, then the directory's name, else the label, else the id.
  const auto mention = [&](char sigil, const std::string* name) {
    out.push_back(sigil);
    if (name) {
      out.append(*name);
    } else if (has_label && !label.empty()) {
      append_unescaped(out, label.front() == sigil ? label.substr(1) : label);
    } else {
      out.append(target.substr(1));
    }
  };
  switch (target.front()) {
    case '@': mention('@', dir.user(target.substr(1))); return;
    case '#': mention('#', dir.channel(target.substr(1))); return;
    case '!': {
      const std::string_view command = target.substr(1);
      const std::size_t caret = command.find('^');
      const std::string_view word = command.substr(0, caret);
      if (word == "here" || word == "channel" || word == "everyone" || word == "group") {
        out.push_back('@');
        out.append(word);
      } else if (has_label && !label.empty()) {
        append_unescaped(out, label);
      } else if (word == "subteam" && caret != std::string_view::npos) {
        out.push_back('@');
        out.append(command.substr(caret + 1));
      } else {
        append_unescaped(out, command);
      }
      return;
    }
    default: {
      const std::string url = unescaped(target);
      if (!has_label || label.empty()) {
        out.append(url);
        return;
      }
      const std::string text = unescaped(label);
      if (text == url || "mailto:" + text == url) {
        out.append(text);
      } else {
        out.append(text);
        out.append(" (");
        out.append(url);
        out.push_back(')');
      }
      return;
    }
  }
}

std::string files_label(object file) {
  std::string_view name = str(file, "title");
  if (name.empty()) name = str(file, "name");
  if (name.empty()) return {};
  return "[file: " + std::string(name) + "]";
}

}  // namespace

std::string unescaped(std::string_view s) {
  std::string out;
  append_unescaped(out, s);
  return out;
}

std::string render_text(std::string_view s, const directory& dir) {
  std::string out;
  out.reserve(s.size());
  std::size_t i = 0;
  while (i < s.size()) {
    const std::size_t lt = s.find('<', i);
    if (lt == std::string_view::npos) {
      append_unescaped(out, s.substr(i));
      break;
    }
    append_unescaped(out, s.substr(i, lt - i));
    const std::size_t gt = s.find('>', lt + 1);
    const std::size_t next_lt = s.find('<', lt + 1);
    if (gt == std::string_view::npos || next_lt < gt) {  // a stray '<': keep it as text
      out.push_back('<');
      i = lt + 1;
      continue;
    }
    render_entity(out, s.substr(lt + 1, gt - lt - 1), dir);
    i = gt + 1;
  }
  return out;
}

std::string author_of(object m, const directory& dir) {
  const std::string_view subtype = str(m, "subtype");
  const std::string_view user = str(m, "user");
  if (subtype == "bot_message" || !str(m, "bot_id").empty()) {
    std::string name(str(m, "username"));
    if (name.empty())
      if (auto bot = obj(m, "bot_profile")) name = std::string(str(*bot, "name"));
    if (name.empty() && !user.empty())
      if (const std::string* known = dir.user(user)) name = *known;
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
  msg.text = render_text(str(m, "text"), dir);
  if (auto edited = obj(m, "edited")) {
    msg.edited = true;
    if (auto ets = parse_ts(str(*edited, "ts"))) msg.edited_us = *ets;
  }
  if (auto files = arr(m, "files")) {
    for (element f : *files) {
      msg.has_files = true;
      object fo;
      if (f.get_object().get(fo) != simdjson::SUCCESS) continue;
      if (auto label = files_label(fo); !label.empty()) msg.extras.push_back(std::move(label));
    }
  } else if (auto file = obj(m, "file")) {  // older exports: a single file object
    msg.has_files = true;
    if (auto label = files_label(*file); !label.empty()) msg.extras.push_back(std::move(label));
  }
  if (auto attachments = arr(m, "attachments")) {
    for (element a : *attachments) {
      object ao;
      if (a.get_object().get(ao) != simdjson::SUCCESS) continue;
      const std::string title = render_text(str(ao, "title"), dir);
      std::string_view raw = str(ao, "text");
      if (raw.empty()) raw = str(ao, "fallback");
      std::string body = render_text(raw, dir);
      if (body == title) body.clear();
      std::string link = unescaped(str(ao, "title_link"));
      if (link.empty()) link = unescaped(str(ao, "from_url"));
      if (title.empty() && body.empty() && link.empty()) continue;
      std::string label = "[attachment: " + title;
      if (!title.empty() && !body.empty()) label += ": ";
      label += body;
      if (!link.empty()) {
        if (!title.empty() || !body.empty()) label += ' ';
        label += link;
      }
      label += ']';
      msg.extras.push_back(std::move(label));
    }
  }
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
