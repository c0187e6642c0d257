// Slack's markup (mrkdwn) as a reader sees it: escapes decoded, <...> entities (mentions, channel
// links, special mentions, links with their labels) as the names and words Slack shows, and the
// formatting marks Slack hides (*bold*, _italic_, ~strike~, `code`, ```blocks```) left out.
#include <algorithm>
#include <string>
#include <string_view>
#include <vector>

#include "backfill/sources/slack/render.hpp"
#include "sources/slack/render_parts.hpp"

namespace backfill::slack {
namespace {

// The '>' closing the entity that opens at s[lt] == '<', or npos for a stray '<' (no '>' before the
// next '<').
std::size_t entity_end(std::string_view s, std::size_t lt) noexcept {
  const std::size_t gt = s.find('>', lt + 1);
  if (gt == std::string_view::npos) return gt;
  const std::size_t next_lt = s.find('<', lt + 1);
  return next_lt < gt ? std::string_view::npos : gt;
}

constexpr bool word_char(char c) noexcept {
  return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
         static_cast<unsigned char>(c) >= 0x80;
}
constexpr bool space(char c) noexcept { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

// Where a `mark` opening at s[i] closes on the same line: a `mark` after a non-space and before a
// non-word character; npos when it does not. Entities are skipped whole.
std::size_t closing_mark(std::string_view s, std::size_t i, char mark) noexcept {
  for (std::size_t j = i + 2; j < s.size(); ++j) {
    const char c = s[j];
    if (c == '\n') return std::string_view::npos;
    if (c == '<') {
      const std::size_t gt = entity_end(s, j);
      if (gt != std::string_view::npos) j = gt;
      continue;
    }
    if (c == mark && !space(s[j - 1]) && (j + 1 == s.size() || !word_char(s[j + 1]))) return j;
  }
  return std::string_view::npos;
}

// The positions of the formatting marks Slack hides, in order: a mark opens after a non-word
// character and before a non-space, and closes as closing_mark says; ``` fences go whole, and
// nothing between backticks is formatting.
void find_marks(std::string_view s, std::vector<std::size_t>& marks) {
  marks.clear();
  // Most texts hold no mark: four vectorized scans rule that out faster than the loop below.
  const auto holds = [&](char c) { return s.find(c) != std::string_view::npos; };
  if (!holds('*') && !holds('_') && !holds('~') && !holds('`')) return;
  for (std::size_t i = 0; i < s.size(); ++i) {
    const char c = s[i];
    if (c == '<') {
      const std::size_t gt = entity_end(s, i);
      if (gt != std::string_view::npos) i = gt;
      continue;
    }
    if (c != '*' && c != '_' && c != '~' && c != '`') continue;
    if (std::find(marks.begin(), marks.end(), i) != marks.end()) continue;  // closes a mark before
    if (i > 0 && (word_char(s[i - 1]) || s[i - 1] == c)) continue;
    if (s.substr(i, 3) == "```") {
      const std::size_t close = s.find("```", i + 3);
      if (close == std::string_view::npos) break;
      for (std::size_t k = 0; k < 3; ++k) marks.push_back(i + k);
      for (std::size_t k = 0; k < 3; ++k) marks.push_back(close + k);
      i = close + 2;
      continue;
    }
    if (i + 1 >= s.size() || space(s[i + 1]) || s[i + 1] == c) continue;
    const std::size_t close = closing_mark(s, i, c);
    if (close == std::string_view::npos) continue;
    marks.push_back(i);
    marks.push_back(close);
    if (c == '`') i = close;  // code: its inside stays as written
  }
  std::sort(marks.begin(), marks.end());
}

// s[from, to) unescaped, without the marks in it (`next` walks `marks`).
void append_unmarked(std::string& out, std::string_view s, std::size_t from, std::size_t to,
                     const std::vector<std::size_t>& marks, std::size_t& next) {
  while (next < marks.size() && marks[next] < from) ++next;
  while (next < marks.size() && marks[next] < to) {
    append_unescaped(out, s.substr(from, marks[next] - from));
    from = marks[next++] + 1;
  }
  append_unescaped(out, s.substr(from, to - from));
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
  thread_local std::vector<std::size_t> marks;
  find_marks(s, marks);
  std::size_t next = 0;
  std::size_t i = 0;
  while (i < s.size()) {
    const std::size_t lt = s.find('<', i);
    if (lt == std::string_view::npos) {
      append_unmarked(out, s, i, s.size(), marks, next);
      break;
    }
    append_unmarked(out, s, i, lt, marks, next);
    const std::size_t gt = entity_end(s, lt);
    if (gt == std::string_view::npos) {  // a stray '<': keep it as text
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
