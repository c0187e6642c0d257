// GitHub-flavoured Markdown as readable text (github.hpp: github_markdown_to_text). Markdown already
// reads as text; what does not is rewritten: links and images become "text (url)", HTML comments (the
// instructions of issue templates) are dropped. Fenced code blocks and code spans are copied as they
// are, so a link or a comment inside code stays code. One pass, line by line, no allocation per
// character.
#include <algorithm>
#include <string>
#include <string_view>

#include "backfill/sources/github/github.hpp"

namespace backfill {
namespace {

struct fence {
  char ch = 0;  // '`' or '~'; 0 outside a fenced block
  std::size_t len = 0;
};

// The fence that opens or closes on `line` (up to 3 spaces, then 3 or more of ` or ~), if any.
fence fence_of(std::string_view line) {
  std::size_t i = 0;
  while (i < line.size() && i < 3 && line[i] == ' ') ++i;
  if (i >= line.size() || (line[i] != '`' && line[i] != '~')) return {};
  const char ch = line[i];
  std::size_t n = 0;
  while (i + n < line.size() && line[i + n] == ch) ++n;
  return n >= 3 ? fence{ch, n} : fence{};
}

bool closes(const fence& open, std::string_view line) {
  const fence f = fence_of(line);
  if (f.ch != open.ch || f.len < open.len) return false;
  const auto rest = line.substr(line.find_first_not_of(' ') + f.len);
  return rest.find_first_not_of(" \t") == std::string_view::npos;
}

struct link {
  std::string_view text, url;
  std::size_t end = 0;  // just past the ')'
};

// "[text](url "title")" starting at `at` (which holds '['); brackets in the text may nest.
bool parse_link(std::string_view s, std::size_t at, link& out) {
  int depth = 0;
  std::size_t i = at;
  for (; i < s.size(); ++i) {
    if (s[i] == '\\') {
      ++i;
      continue;
    }
    if (s[i] == '[') ++depth;
    if (s[i] == ']' && --depth == 0) break;
  }
  if (i + 1 >= s.size() || s[i + 1] != '(') return false;
  const std::size_t close = s.find(')', i + 2);
  if (close == std::string_view::npos) return false;
  std::string_view inside = s.substr(i + 2, close - i - 2);
  inside = inside.substr(0, inside.find(' '));  // drop a "title"
  if (inside.size() >= 2 && inside.front() == '<' && inside.back() == '>')
    inside = inside.substr(1, inside.size() - 2);
  out.text = s.substr(at + 1, i - at - 1);
  out.url = inside;
  out.end = close + 1;
  return true;
}

void inline_text(std::string_view s, std::string& out, bool& in_comment) {
  std::size_t i = 0;
  while (i < s.size()) {
    if (in_comment) {
      const auto end = s.find("-->", i);
      if (end == std::string_view::npos) return;
      i = end + 3;
      in_comment = false;
      continue;
    }
    const char c = s[i];
    if (c == '`') {  // a code span, copied whole
      std::size_t n = 0;
      while (i + n < s.size() && s[i + n] == '`') ++n;
      const std::string_view ticks = s.substr(i, n);
      std::size_t close = s.find(ticks, i + n);
      while (close != std::string_view::npos && close + n < s.size() && s[close + n] == '`')
        close = s.find(ticks, close + n + 1);
      const std::size_t end = close == std::string_view::npos ? i + n : close + n;
      out.append(s.substr(i, end - i));
      i = end;
      continue;
    }
    if (c == '<' && s.compare(i, 4, "<!--") == 0) {
      in_comment = true;
      i += 4;
      continue;
    }
    link l;
    const bool image = c == '!' && i + 1 < s.size() && s[i + 1] == '[';
    if ((c == '[' || image) && parse_link(s, image ? i + 1 : i, l)) {
      const std::size_t before = out.size();
      bool nested_comment = false;
      inline_text(l.text, out, nested_comment);
      if (l.url != l.text && !l.url.empty()) {
        if (out.size() > before) out += ' ';
        out += '(';
        out.append(l.url);
        out += ')';
      }
      i = l.end;
      continue;
    }
    const std::size_t next = s.find_first_of("`<[!", i + 1);
    const std::size_t stop = next == std::string_view::npos ? s.size() : next;
    out.append(s.substr(i, stop - i));
    i = stop;
  }
}

}  // namespace

void github_markdown_to_text(std::string_view md, std::string& out) {
  const std::size_t base = out.size();
  fence open;
  bool in_comment = false;
  bool blank = true;  // the last line written was blank (or nothing was written yet)
  std::size_t pos = 0;
  while (pos <= md.size()) {
    std::size_t nl = md.find('\n', pos);
    if (nl == std::string_view::npos) nl = md.size();
    std::string_view line = md.substr(pos, nl - pos);
    pos = nl + 1;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (open.ch) {
      out.append(line);
      out += '\n';
      if (closes(open, line)) open = {};
      blank = false;
      continue;
    }
    if (!in_comment) {
      if (const fence f = fence_of(line); f.ch) {
        open = f;
        out.append(line);
        out += '\n';
        blank = false;
        continue;
      }
    }
    const std::size_t start = out.size();
    const bool had_comment = in_comment || line.find("<!--") != std::string_view::npos;
    inline_text(line, out, in_comment);
    const bool empty = std::all_of(out.begin() + static_cast<std::ptrdiff_t>(start), out.end(),
                                   [](char c) { return c == ' ' || c == '\t'; });
    if (empty) {
      out.resize(start);
      if (blank || had_comment) continue;  // one blank line at most; a dropped comment leaves none
      blank = true;
    } else {
      blank = false;
    }
    out += '\n';
  }
  while (out.size() > base + 1 && out.back() == '\n' && out[out.size() - 2] == '\n') out.pop_back();
}

}  // namespace backfill
