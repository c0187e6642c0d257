// The text an ADF document renders to, built the way Atlassian's plain-text renderer lays it out:
// blocks end their lines; inline chips (mentions, emoji, dates, status, smart links, inline files)
// stand apart from the words around them; a link's target follows the word its text ends in, so the
// words a reader sees stay whole. Inside a table cell ("flat"), line ends become spaces, except in
// code blocks, which keep their lines.
#pragma once

#include <string>
#include <string_view>

namespace simdjson::dom {
class element;
}

namespace backfill::adf {

class writer {
 public:
  // Inline text as it is. A word right after a chip starts apart from it.
  void text(std::string_view s);
  // Text carrying a link to `href`: the target is written in parentheses after the word the text ends in.
  void linked_text(std::string_view s, std::string_view href);
  // An inline chip: apart from the words on either side.
  void chip(std::string_view s);
  // Ends the current line (a space in a table cell).
  void line_end();
  // Ends the current line unless it is empty.
  void ensure_line_end();
  // Code: its line ends are kept, even in a table cell.
  void code(std::string_view s);
  // Lines already laid out (a list item, a quote): their line ends become spaces in a table cell.
  void lines(std::string_view s);

  // Line ends become spaces while flat (a table cell); returns the previous setting.
  bool set_flat(bool flat) {
    const bool was = flat_;
    flat_ = flat;
    return was;
  }
  bool flat() const { return flat_; }
  char last() const { return out_.empty() ? '\0' : out_.back(); }
  // The text so far, with a pending link target written out.
  std::string take();

 private:
  void flush_link();
  void put(std::string_view s);  // as is, or with line ends as spaces when flat
  void separate();               // a space unless the text is empty or ends in a space or line end

  std::string out_;
  std::string link_;  // a link target waiting for the end of its word
  bool after_chip_ = false;
  bool flat_ = false;
};

// Renders `node` (and what it contains) into `w`. `block` says whether the node stands where blocks
// do (the content of a doc, list item, cell, panel...), which decides how a node of an unknown type
// ends: a block ends its line, an inline node does not.
void render(const simdjson::dom::element& node, writer& w, bool block);
// Renders the inline nodes of the ADF schema; false for any other type.
bool render_inline(const simdjson::dom::element& node, std::string_view type, writer& w);

// The string attrs[key] of a node, "" when absent or not a string.
std::string_view attr(const simdjson::dom::element& node, const char* key);
// The string node[key], "" when absent or not a string.
std::string_view str(const simdjson::dom::element& node, const char* key);

}  // namespace backfill::adf
