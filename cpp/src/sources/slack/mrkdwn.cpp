// Slack's markup (mrkdwn) as a reader sees it: escapes decoded, <...> entities (mentions, channel
// links, special mentions, links with their labels) as the names and words Slack shows.
#include <string>
#include <string_view>

#include "backfill/sources/slack/render.hpp"
#include "sources/slack/render_parts.hpp"

namespace backfill::slack {
namespace {

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
    default: append_link(out, unescaped(target), has_label ? unescaped(label) : std::string()); return;
  }
}

}  // namespace

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

void append_link(std::string& out, std::string_view url, std::string_view label) {
  if (label.empty() || label == url ||
      (url.starts_with("mailto:") && url.substr(std::string_view("mailto:").size()) == label)) {
    out.append(label.empty() ? url : label);
    return;
  }
  out.append(label);
  out.append(" (");
  out.append(url);
  out.push_back(')');
}

std::string unescaped(std::string_view s) {
  std::string out;
  append_unescaped(out, s);
  return out;
}

void append_text(std::string& out, std::string_view s, const directory& dir) {
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
}

std::string render_text(std::string_view s, const directory& dir) {
  std::string out;
  out.reserve(s.size());
  append_text(out, s, dir);
  return out;
}

}  // namespace backfill::slack
