// ADF to text, the block side: paragraphs and headings as lines, lists numbered or bulleted, task
// lists indented by depth, tables as " | " rows (with their row numbers when the table shows them),
// quotes, panels, expands, cards and media. The inline nodes are in adf_inline.cpp.
#include "backfill/sources/jira/adf.hpp"

#include <algorithm>
#include <array>
#include <cstdint>
#include <string>

#include <simdjson.h>

#include "backfill/core/errors.hpp"
#include "sources/jira/adf_writer.hpp"

namespace backfill::adf {
namespace {

using simdjson::dom::element;

// The block node types of the ADF schema: a node of an unknown type holding one of them holds blocks.
constexpr std::array<std::string_view, 30> block_types = {"paragraph",
                                                          "heading",
                                                          "bulletList",
                                                          "orderedList",
                                                          "listItem",
                                                          "codeBlock",
                                                          "blockquote",
                                                          "panel",
                                                          "table",
                                                          "tableRow",
                                                          "tableCell",
                                                          "tableHeader",
                                                          "rule",
                                                          "mediaSingle",
                                                          "mediaGroup",
                                                          "taskList",
                                                          "taskItem",
                                                          "decisionList",
                                                          "decisionItem",
                                                          "expand",
                                                          "nestedExpand",
                                                          "layoutSection",
                                                          "layoutColumn",
                                                          "blockCard",
                                                          "embedCard",
                                                          "extension",
                                                          "bodiedExtension",
                                                          "extensionFrame",
                                                          "multiBodiedExtension",
                                                          "doc"};

bool is_block_type(std::string_view type) {
  for (std::string_view t : block_types)
    if (t == type) return true;
  return false;
}

bool holds_blocks(const element& node) {
  simdjson::dom::array content;
  if (node["content"].get(content)) return false;
  for (element child : content)
    if (is_block_type(str(child, "type"))) return true;
  return false;
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

void children(const element& node, writer& w, bool block) {
  simdjson::dom::array content;
  if (node["content"].get(content)) return;
  for (element child : content) render(child, w, block);
}

// The blocks of `node` rendered on their own, without trailing line ends.
std::string rendered_blocks(const element& node, bool flat) {
  writer sub;
  sub.set_flat(flat);
  children(node, sub, true);
  std::string s = sub.take();
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}

void list(const element& node, writer& w, bool ordered) {
  std::int64_t n = 1;
  if (ordered) {
    std::int64_t order = 1;
    if (!node.at_pointer("/attrs/order").get(order)) n = order;
  }
  simdjson::dom::array items;
  if (node["content"].get(items)) return;
  w.ensure_line_end();
  for (element item : items) {
    const std::string marker = ordered ? std::to_string(n++) + ". " : "- ";
    w.lines(prefix_lines(rendered_blocks(item, w.flat()), marker, std::string(marker.size(), ' ')));
    w.line_end();
  }
}

// Task and decision lists: their items one a line, a list nested in a list indented under it.
void item_list(const element& node, writer& w) {
  simdjson::dom::array items;
  if (node["content"].get(items)) return;
  w.ensure_line_end();
  for (element item : items) {
    const std::string_view type = str(item, "type");
    if (type == "taskList" || type == "decisionList") {
      writer sub;
      sub.set_flat(w.flat());
      item_list(item, sub);
      std::string nested = sub.take();
      while (!nested.empty() && nested.back() == '\n') nested.pop_back();
      w.lines(prefix_lines(nested, "  ", "  "));
      w.line_end();
    } else {
      render(item, w, true);
    }
  }
}

// A row: its cells side by side, each on one line (code blocks keep theirs); `number` > 0 first.
void row(const element& node, writer& w, std::int64_t number) {
  simdjson::dom::array cells;
  if (node["content"].get(cells)) return;
  std::string line = number > 0 ? std::to_string(number) : std::string();
  bool first = number <= 0;
  for (element cell : cells) {
    if (!first) line += " | ";
    first = false;
    line += rendered_blocks(cell, true);
  }
  w.code(line);
  w.line_end();
}

bool header_row(const element& node) {
  simdjson::dom::array cells;
  if (node["content"].get(cells)) return false;
  for (element cell : cells)
    if (str(cell, "type") != "tableHeader") return false;
  return true;
}

void table(const element& node, writer& w) {
  bool numbered = false;
  if (node.at_pointer("/attrs/isNumberColumnEnabled").get(numbered)) numbered = false;
  simdjson::dom::array rows;
  if (node["content"].get(rows)) return;
  w.ensure_line_end();
  std::int64_t n = 0;
  for (element r : rows) {
    if (str(r, "type") != "tableRow") {
      render(r, w, true);
      continue;
    }
    row(r, w, numbered && !header_row(r) ? ++n : 0);
  }
}

// A block card: its URL, or from JSON-LD attrs.data its name (after the application it comes
// from), summary and URL, one a line.
void block_card(const element& node, writer& w) {
  w.ensure_line_end();
  const std::string_view url = attr(node, "url");
  element data;
  if (!url.empty() || node.at_pointer("/attrs/data").get(data)) {
    w.text(url);
    w.ensure_line_end();
    return;
  }
  std::string_view app;
  if (data.at_pointer("/generator/name").get(app)) app = {};
  const std::string_view name = str(data, "name");
  if (!app.empty() && !name.empty()) {
    w.text(app);
    w.text(": ");
  }
  for (const char* key : {"name", "summary", "url"}) {
    w.text(str(data, key));
    w.ensure_line_end();
  }
}

// A media item: its alt text (the file name), an external image's URL, never the media-service id.
void media(const element& node, writer& w) {
  std::string_view name = attr(node, "alt");
  if (name.empty() && attr(node, "type") == "external") name = attr(node, "url");
  w.chip(name.empty() ? std::string("[media]") : "[media: " + std::string(name) + "]");
}

void code_block(const element& node, writer& w) {
  w.ensure_line_end();
  simdjson::dom::array content;
  if (!node["content"].get(content))
    for (element child : content) w.code(str(child, "text"));
  w.ensure_line_end();
}

}  // namespace

void render(const element& node, writer& w, bool block) {
  if (node.is_null()) return;
  const std::string_view type = str(node, "type");
  if (render_inline(node, type, w)) return;
  if (type == "paragraph" || type == "heading") {
    children(node, w, false);
    w.line_end();
  } else if (type == "bulletList" || type == "orderedList") {
    list(node, w, type == "orderedList");
  } else if (type == "taskList" || type == "decisionList") {
    item_list(node, w);
  } else if (type == "taskItem" || type == "decisionItem") {
    w.ensure_line_end();
    w.text(type == "decisionItem" ? "Decision: " : attr(node, "state") == "DONE" ? "[x] " : "[ ] ");
    children(node, w, false);
    w.ensure_line_end();
  } else if (type == "codeBlock") {
    code_block(node, w);
  } else if (type == "blockquote") {
    const std::string inner = rendered_blocks(node, w.flat());
    w.ensure_line_end();
    w.lines(prefix_lines(inner, "> ", "> "));
    w.line_end();
  } else if (type == "panel") {
    const std::string_view kind = attr(node, "panelType");
    const std::string inner = rendered_blocks(node, w.flat());
    w.ensure_line_end();
    if (!kind.empty()) w.text(std::string("[").append(kind).append("] "));
    w.lines(inner);
    w.ensure_line_end();
  } else if (type == "expand" || type == "nestedExpand") {
    w.ensure_line_end();
    w.text(attr(node, "title"));
    w.ensure_line_end();
    children(node, w, true);
    w.ensure_line_end();
  } else if (type == "table") {
    table(node, w);
  } else if (type == "tableRow") {
    row(node, w, 0);
  } else if (type == "rule") {
    w.ensure_line_end();
    w.text("---");
    w.line_end();
  } else if (type == "blockCard" || type == "embedCard") {
    block_card(node, w);
  } else if (type == "media") {
    media(node, w);
  } else if (type == "mediaSingle" || type == "mediaGroup") {
    children(node, w, false);
    w.line_end();
  } else if (is_block_type(type)) {
    children(node, w, true);  // doc, list items, cells, layouts, extensions: blocks in blocks
  } else if (block) {
    children(node, w, holds_blocks(node));  // a block of a type not known yet: its text on its own line
    w.ensure_line_end();
  } else {
    const std::string_view text = attr(node, "text");  // an inline node not known yet, e.g. a team mention
    if (!text.empty()) w.chip(text);
    children(node, w, false);
  }
}

}  // namespace backfill::adf

namespace backfill {
namespace {

std::string tidy(std::string_view s) {
  // At most one blank line in a row, no trailing spaces at line ends, no leading/trailing blank lines.
  // Copied a line at a time: only line ends need a look.
  std::string out;
  out.reserve(s.size());
  int newlines = 0;
  std::size_t i = 0;
  while (i < s.size()) {
    const std::size_t end = std::min(s.find('\n', i), s.size());
    if (end > i) {
      out.append(s.data() + i, end - i);
      newlines = 0;
    }
    if (end == s.size()) break;
    while (!out.empty() && out.back() == ' ') out.pop_back();
    if (++newlines <= 2) out.push_back('\n');
    i = end + 1;
  }
  const std::size_t b = out.find_first_not_of('\n');
  if (b == std::string::npos) return {};
  out.erase(out.find_last_not_of("\n ") + 1);
  out.erase(0, b);
  return out;
}

}  // namespace

std::string adf_to_text(const simdjson::dom::element& node) {
  adf::writer w;
  adf::render(node, w, true);
  return tidy(w.take());
}

std::string adf_to_text(std::string_view json) {
  simdjson::dom::parser parser;
  simdjson::dom::element root;
  simdjson::padded_string padded(json);
  if (parser.parse(padded).get(root)) throw source_error("ADF is not valid JSON");
  return adf_to_text(root);
}

}  // namespace backfill
