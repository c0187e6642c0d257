#include "backfill/sources/jira/adf.hpp"

#include <ctime>

#include <simdjson.h>

#include "backfill/core/errors.hpp"

namespace backfill {
namespace {

using simdjson::dom::element;

std::string_view str(const element& e, const char* key) {
  std::string_view s;
  if (e[key].get(s)) return {};
  return s;
}

std::string_view attr(const element& e, const char* key) {
  element attrs;
  if (e["attrs"].get(attrs)) return {};
  std::string_view s;
  if (!attrs[key].get(s)) return s;
  return {};
}

// Lines of `text` each prefixed (the first with `first`, the rest with `rest`).
std::string prefix_lines(std::string_view text, std::string_view first, std::string_view rest) {
  std::string out;
  bool start = true;
  bool any = false;
  for (char c : text) {
    if (start) {
      out += any ? rest : first;
      start = false;
      any = true;
    }
    out.push_back(c);
    if (c == '\n') start = true;
  }
  return out;
}

void ensure_newline(std::string& out) {
  if (!out.empty() && out.back() != '\n') out.push_back('\n');
}

void render(const element& node, std::string& out);

void children(const element& node, std::string& out) {
  simdjson::dom::array content;
  if (node["content"].get(content)) return;
  for (element child : content) render(child, out);
}

std::string rendered_children(const element& node) {
  std::string s;
  children(node, s);
  return s;
}

std::string date_from_ms(std::string_view ms) {
  if (ms.empty()) return {};
  long long v = std::atoll(std::string(ms).c_str());
  std::time_t t = static_cast<std::time_t>(v / 1000);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[16];
  std::strftime(buf, sizeof buf, "%Y-%m-%d", &tm);
  return buf;
}

void list(const element& node, std::string& out, bool ordered) {
  long long n = 1;
  element attrs;
  if (ordered && !node["attrs"].get(attrs)) {
    std::int64_t order = 1;
    if (!attrs["order"].get(order)) n = order;
  }
  simdjson::dom::array items;
  if (node["content"].get(items)) return;
  ensure_newline(out);
  for (element item : items) {
    std::string body = rendered_children(item);
    while (!body.empty() && body.back() == '\n') body.pop_back();
    std::string marker = ordered ? std::to_string(n++) + ". " : "- ";
    out += prefix_lines(body, marker, std::string(marker.size(), ' '));
    out.push_back('\n');
  }
}

void render(const element& node, std::string& out) {
  if (node.is_null()) return;
  std::string_view type = str(node, "type");
  if (type == "text") {
    std::string_view text = str(node, "text");
    out += text;
    simdjson::dom::array marks;
    if (!node["marks"].get(marks)) {
      for (element mark : marks) {
        if (str(mark, "type") == "link") {
          std::string_view href = attr(mark, "href");
          if (!href.empty() && href != text) {
            out += " (";
            out += href;
            out += ")";
          }
        }
      }
    }
  } else if (type == "hardBreak") {
    out.push_back('\n');
  } else if (type == "mention") {
    std::string_view t = attr(node, "text");
    out += t.empty() ? std::string_view("@someone") : t;
  } else if (type == "emoji") {
    std::string_view t = attr(node, "text");
    out += t.empty() ? attr(node, "shortName") : t;
  } else if (type == "inlineCard" || type == "blockCard" || type == "embedCard") {
    out += attr(node, "url");
    if (type != "inlineCard") out.push_back('\n');
  } else if (type == "date") {
    out += date_from_ms(attr(node, "timestamp"));
  } else if (type == "status") {
    out += "[";
    out += attr(node, "text");
    out += "]";
  } else if (type == "placeholder") {
    out += attr(node, "text");
  } else if (type == "paragraph" || type == "heading") {
    children(node, out);
    out.push_back('\n');
  } else if (type == "bulletList") {
    list(node, out, false);
  } else if (type == "orderedList") {
    list(node, out, true);
  } else if (type == "taskList" || type == "decisionList") {
    children(node, out);
  } else if (type == "taskItem") {
    out += attr(node, "state") == "DONE" ? "[x] " : "[ ] ";
    children(node, out);
    ensure_newline(out);
  } else if (type == "decisionItem") {
    out += "Decision: ";
    children(node, out);
    ensure_newline(out);
  } else if (type == "codeBlock") {
    ensure_newline(out);
    children(node, out);
    ensure_newline(out);
  } else if (type == "blockquote") {
    std::string inner = rendered_children(node);
    while (!inner.empty() && inner.back() == '\n') inner.pop_back();
    ensure_newline(out);
    out += prefix_lines(inner, "> ", "> ");
    out.push_back('\n');
  } else if (type == "panel") {
    std::string_view kind = attr(node, "panelType");
    std::string inner = rendered_children(node);
    ensure_newline(out);
    if (!kind.empty()) {
      out += "[";
      out += kind;
      out += "] ";
    }
    out += inner;
    ensure_newline(out);
  } else if (type == "expand" || type == "nestedExpand") {
    std::string_view title = attr(node, "title");
    ensure_newline(out);
    if (!title.empty()) {
      out += title;
      out.push_back('\n');
    }
    children(node, out);
    ensure_newline(out);
  } else if (type == "table") {
    ensure_newline(out);
    children(node, out);
  } else if (type == "tableRow") {
    simdjson::dom::array cells;
    if (node["content"].get(cells)) return;
    bool first = true;
    for (element cell : cells) {
      std::string text = rendered_children(cell);
      for (char& c : text)
        if (c == '\n') c = ' ';
      while (!text.empty() && text.back() == ' ') text.pop_back();
      if (!first) out += " | ";
      first = false;
      out += text;
    }
    out.push_back('\n');
  } else if (type == "rule") {
    ensure_newline(out);
    out += "---\n";
  } else if (type == "media") {
    std::string_view name = attr(node, "alt");
    if (name.empty()) name = attr(node, "id");
    if (!out.empty() && out.back() == ']') out.push_back(' ');
    out += "[media";
    if (!name.empty()) {
      out += ": ";
      out += name;
    }
    out += "]";
  } else if (type == "mediaSingle" || type == "mediaGroup" || type == "mediaInline") {
    children(node, out);
    if (type != "mediaInline") out.push_back('\n');
  } else {
    children(node, out);  // doc, tableCell, tableHeader, listItem, and any node type not known yet
  }
}

std::string tidy(std::string s) {
  // At most one blank line in a row, no trailing spaces at line ends, no leading/trailing blank lines.
  std::string out;
  int newlines = 0;
  for (char c : s) {
    if (c == '\n') {
      while (!out.empty() && out.back() == ' ') out.pop_back();
      if (++newlines > 2) continue;
    } else {
      newlines = 0;
    }
    out.push_back(c);
  }
  std::size_t b = out.find_first_not_of('\n');
  if (b == std::string::npos) return {};
  std::size_t e = out.find_last_not_of("\n ");
  return out.substr(b, e - b + 1);
}

}  // namespace

std::string adf_to_text(const simdjson::dom::element& node) {
  std::string out;
  render(node, out);
  return tidy(std::move(out));
}

std::string adf_to_text(std::string_view json) {
  simdjson::dom::parser parser;
  element root;
  simdjson::padded_string padded(json);
  if (parser.parse(padded).get(root)) throw source_error("ADF is not valid JSON");
  return adf_to_text(root);
}

}  // namespace backfill
