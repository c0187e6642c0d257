// ADF to text, the inline side: the writer that keeps words whole and chips apart, and the inline
// nodes (text and its link marks, mentions, emoji, dates, status lozenges, smart links, inline files).
#include <cctype>
#include <cstdint>
#include <ctime>
#include <string>

#include <simdjson.h>

#include "sources/jira/adf_writer.hpp"

namespace backfill::adf {
namespace {

using simdjson::dom::element;

// A byte of a word: an ASCII letter or digit, or any byte of a multi-byte UTF-8 character.
bool word_byte(char c) {
  const auto u = static_cast<unsigned char>(c);
  return u >= 0x80 || std::isalnum(u) != 0;
}

// Where a word ends for a pending link target: a space, a line end, or punctuation that closes a phrase.
constexpr std::string_view word_end = " \t\n.,;:!?)";

// attrs.timestamp (milliseconds since 1970, as a string or a number) as yyyy-mm-dd; "" if absent.
std::string date_of(const element& node) {
  element ts;
  if (node.at_pointer("/attrs/timestamp").get(ts)) return {};
  long long ms = 0;
  std::string_view s;
  std::int64_t i = 0;
  double d = 0;
  if (!ts.get(s)) {
    if (s.empty()) return {};
    ms = std::atoll(std::string(s).c_str());
  } else if (!ts.get(i)) {
    ms = i;
  } else if (!ts.get(d)) {
    ms = static_cast<long long>(d);
  } else {
    return {};
  }
  const auto t = static_cast<std::time_t>(ms / 1000);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%d", &tm);
  return buf;
}

// A mention: its text, "@here"/"@all" for those (the text attribute, if another, after it), or
// "@someone" when the person is not named.
std::string mention_of(const element& node) {
  const std::string_view id = attr(node, "id");
  const std::string_view text = attr(node, "text");
  if (id == "here" || id == "all") {
    std::string out = std::string("@").append(id);
    if (!text.empty() && text != out) out.append(" (").append(text).append(")");
    return out;
  }
  return text.empty() ? std::string("@someone") : std::string(text);
}

// A smart link: its URL, or from JSON-LD attrs.data its name with its URL after it.
std::string inline_card_of(const element& node) {
  std::string_view url = attr(node, "url");
  if (!url.empty()) return std::string(url);
  element data;
  if (node.at_pointer("/attrs/data").get(data)) return {};
  const std::string_view name = str(data, "name");
  url = str(data, "url");
  if (name.empty()) return std::string(url);
  if (url.empty() || url == name) return std::string(name);
  return std::string(name) + " (" + std::string(url) + ")";
}

}  // namespace

std::string_view str(const element& node, const char* key) {
  std::string_view s;
  if (node[key].get(s)) return {};
  return s;
}

std::string_view attr(const element& node, const char* key) {
  element attrs;
  if (node["attrs"].get(attrs)) return {};
  return str(attrs, key);
}

void writer::flush_link() {
  if (link_.empty()) return;
  out_ += " (";
  out_ += link_;
  out_ += ')';
  link_.clear();
}

void writer::separate() {
  if (out_.empty()) return;
  const char c = out_.back();
  if (c != ' ' && c != '\n' && c != '(' && c != '[') out_.push_back(' ');
}

void writer::text(std::string_view s) {
  if (s.empty()) return;
  if (after_chip_) {
    after_chip_ = false;
    if (word_byte(s.front())) out_.push_back(' ');
  }
  if (!link_.empty()) {
    const std::size_t end = s.find_first_of(word_end);
    if (end == std::string_view::npos) return put(s);
    put(s.substr(0, end));
    flush_link();
    s.remove_prefix(end);
  }
  put(s);
}

void writer::put(std::string_view s) {
  if (!flat_ || s.find('\n') == std::string_view::npos) {
    out_ += s;
    return;
  }
  for (char c : s) out_.push_back(c == '\n' ? ' ' : c);
}

void writer::linked_text(std::string_view s, std::string_view href) {
  if (href.empty() || href == s) return text(s);
  if (link_ == href)
    link_.clear();  // the same link goes on (its text split by other marks): the target follows its end
  else
    flush_link();
  text(s);
  link_ = std::string(href);
}

void writer::chip(std::string_view s) {
  if (s.empty()) return;
  flush_link();
  separate();
  out_ += s;
  after_chip_ = true;
}

void writer::line_end() {
  flush_link();
  after_chip_ = false;
  out_.push_back(flat_ ? ' ' : '\n');
}

void writer::ensure_line_end() {
  flush_link();
  after_chip_ = false;
  if (out_.empty() || out_.back() == '\n' || (flat_ && out_.back() == ' ')) return;
  out_.push_back(flat_ ? ' ' : '\n');
}

void writer::code(std::string_view s) {
  flush_link();
  after_chip_ = false;
  out_ += s;
}

void writer::lines(std::string_view s) {
  flush_link();
  after_chip_ = false;
  put(s);
}

std::string writer::take() {
  flush_link();
  after_chip_ = false;
  return std::move(out_);
}

bool render_inline(const element& node, std::string_view type, writer& w) {
  if (type == "text") {
    const std::string_view text = str(node, "text");
    simdjson::dom::array marks;
    std::string_view href;
    if (!node["marks"].get(marks))
      for (element mark : marks)
        if (str(mark, "type") == "link") href = attr(mark, "href");
    w.linked_text(text, href);
  } else if (type == "hardBreak") {
    w.line_end();
  } else if (type == "mention") {
    w.chip(mention_of(node));
  } else if (type == "emoji") {
    const std::string_view t = attr(node, "text");
    w.chip(t.empty() ? attr(node, "shortName") : t);
  } else if (type == "inlineCard") {
    w.chip(inline_card_of(node));
  } else if (type == "date") {
    w.chip(date_of(node));
  } else if (type == "status") {
    const std::string_view t = attr(node, "text");
    if (!t.empty()) w.chip(std::string("[").append(t).append("]"));
  } else if (type == "mediaInline") {
    const std::string_view name = attr(node, "alt");
    w.chip(name.empty() ? attr(node, "name") : name);  // never the media-service id
  } else if (type != "placeholder") {                  // an editor hint, never shown to a reader
    return false;
  }
  return true;
}

}  // namespace backfill::adf
