// Block Kit as Slack lays it out, a block a line (or more): section text and fields (and the
// button or image beside them), context elements on one line, headers, images and videos by their
// titles and alt texts, action buttons as "[label]", and rich text (the model of every message typed
// in Slack) with its lists, quotes, preformatted text, mentions, emoji and links. Block ids, action
// ids, values and URLs of images are not shown in Slack, so they stay out of the text.
#include <algorithm>
#include <cstdint>
#include <string>
#include <string_view>

#include "sources/slack/fields.hpp"
#include "sources/slack/render_parts.hpp"

namespace backfill::slack {
namespace {

using simdjson::dom::array;
using simdjson::dom::element;
using simdjson::dom::object;

// A composition text object: mrkdwn read as Slack's markup, plain_text as it is.
void append_text_object(std::string& out, object t, const directory& dir) {
  const std::string_view text = str(t, "text");
  if (str(t, "type") == "mrkdwn")
    append_text(out, text, dir);
  else
    out.append(text);
}

bool append_text_field(std::string& out, object o, std::string_view key, const directory& dir) {
  auto t = obj(o, key);
  if (!t || str(*t, "text").empty()) return false;
  append_text_object(out, *t, dir);
  return true;
}

// "@name" (or "#name") from the directory, else the id.
void append_mention(std::string& out, char sigil, const std::string* name, std::string_view id) {
  out.push_back(sigil);
  out.append(name ? std::string_view(*name) : id);
}

// The inline elements of a rich_text section, quote or preformatted block.
void append_inline(std::string& out, array elements, const directory& dir) {
  for (element e : elements) {
    object o;
    if (e.get_object().get(o) != simdjson::SUCCESS) continue;
    const std::string_view type = str(o, "type");
    if (type == "text") {
      out.append(str(o, "text"));
    } else if (type == "link") {
      append_link(out, str(o, "url"), str(o, "text"));
    } else if (type == "user") {
      append_mention(out, '@', dir.user(str(o, "user_id")), str(o, "user_id"));
    } else if (type == "channel") {
      append_mention(out, '#', dir.channel(str(o, "channel_id")), str(o, "channel_id"));
    } else if (type == "usergroup") {
      append_mention(out, '@', nullptr, str(o, "usergroup_id"));
    } else if (type == "broadcast") {
      append_mention(out, '@', nullptr, str(o, "range"));
    } else if (type == "emoji") {
      out.push_back(':');
      out.append(str(o, "name"));
      out.push_back(':');
    } else if (type == "date") {
      out.append(str(o, "fallback"));
    } else if (type == "color") {
      out.append(str(o, "value"));
    }
  }
}

// A rich_text_list: an item a line, "- " or "1. " after two spaces per level of indent.
void append_list(std::string& out, object list, const directory& dir) {
  auto items = arr(list, "elements");
  if (!items) return;
  const bool ordered = str(list, "style") == "ordered";
  std::int64_t indent = 0, offset = 0;
  if (list["indent"].get_int64().get(indent) != simdjson::SUCCESS) indent = 0;
  if (list["offset"].get_int64().get(offset) != simdjson::SUCCESS) offset = 0;
  std::int64_t n = offset;
  for (element item : *items) {
    object io;
    if (item.get_object().get(io) != simdjson::SUCCESS) continue;
    new_line(out);
    for (std::int64_t i = 0; i < indent && i < 16; ++i) out.append("  ");
    if (ordered) {
      out.append(std::to_string(++n));
      out.append(". ");
    } else {
      out.append("- ");
    }
    if (auto inner = arr(io, "elements")) append_inline(out, *inner, dir);
  }
}

// A rich_text block's elements: sections, lists, quotes ("> " before each line), preformatted.
void append_rich_text(std::string& out, array elements, const directory& dir) {
  for (element e : elements) {
    object o;
    if (e.get_object().get(o) != simdjson::SUCCESS) continue;
    const std::string_view type = str(o, "type");
    auto inner = arr(o, "elements");
    if (type == "rich_text_list") {
      append_list(out, o, dir);
    } else if (type == "rich_text_quote" && inner) {
      new_line(out);
      std::string quote;
      append_inline(quote, *inner, dir);
      std::size_t start = 0;
      while (start <= quote.size()) {
        const std::size_t end = std::min(quote.find('\n', start), quote.size());
        if (start > 0) out.push_back('\n');
        out.append("> ");
        out.append(std::string_view(quote).substr(start, end - start));
        start = end + 1;
      }
    } else if (type == "rich_text_preformatted" && inner) {
      new_line(out);
      append_inline(out, *inner, dir);
    } else if (inner) {  // rich_text_section, and sections of types to come
      new_line(out);
      append_inline(out, *inner, dir);
    }
  }
}

// An element shown as a control: a button "[label]", an image by its alt text.
void append_control(std::string& out, object e, const directory& dir) {
  const std::string_view type = str(e, "type");
  if (type == "image") {
    if (auto alt = str(e, "alt_text"); !alt.empty()) {
      out.append("[image: ");
      out.append(alt);
      out.push_back(']');
    }
    return;
  }
  if (type == "button" || type == "workflow_button") {
    out.push_back('[');
    if (!append_text_field(out, e, "text", dir))
      out.pop_back();
    else
      out.push_back(']');
  }
}

// An element of a context or actions block (or a section's accessory) after a space on the line;
// nothing, not even the space, for an element that shows nothing.
void append_element(std::string& out, object e, const directory& dir) {
  const std::size_t before = out.size();
  if (!out.empty() && out.back() != '\n') out.push_back(' ');
  const std::size_t mark = out.size();
  const std::string_view type = str(e, "type");
  if (type == "mrkdwn" || type == "plain_text")
    append_text_object(out, e, dir);
  else
    append_control(out, e, dir);
  if (out.size() == mark) out.resize(before);
}

void append_block(std::string& out, object b, const directory& dir) {
  const std::string_view type = str(b, "type");
  new_line(out);
  if (type == "rich_text") {
    if (auto elements = arr(b, "elements")) append_rich_text(out, *elements, dir);
  } else if (type == "section") {
    append_text_field(out, b, "text", dir);
    if (auto fields = arr(b, "fields")) {
      for (element f : *fields) {
        object fo;
        if (f.get_object().get(fo) != simdjson::SUCCESS || str(fo, "text").empty()) continue;
        new_line(out);
        append_text_object(out, fo, dir);
      }
    }
    if (auto accessory = obj(b, "accessory")) append_element(out, *accessory, dir);
  } else if (type == "context" || type == "actions") {
    auto elements = arr(b, "elements");
    if (!elements) return;
    for (element e : *elements) {
      object eo;
      if (e.get_object().get(eo) == simdjson::SUCCESS) append_element(out, eo, dir);
    }
  } else if (type == "image" || type == "video") {
    std::string title;
    append_text_field(title, b, "title", dir);
    const std::string_view alt = str(b, "alt_text");
    if (title.empty() && alt.empty()) return;
    out.append(type == "image" ? "[image: " : "[video: ");
    out.append(title);
    if (!title.empty() && !alt.empty() && alt != title) {
      out.append(": ");
      out.append(alt);
    } else if (title.empty()) {
      out.append(alt);
    }
    out.push_back(']');
  } else if (type == "input") {
    append_text_field(out, b, "label", dir);
  } else {  // header, and blocks of types to come that carry a text
    append_text_field(out, b, "text", dir);
  }
}

}  // namespace

void append_blocks(std::string& out, array blocks, const directory& dir) {
  for (element b : blocks) {
    object bo;
    if (b.get_object().get(bo) == simdjson::SUCCESS) append_block(out, bo, dir);
  }
  while (!out.empty() && out.back() == '\n') out.pop_back();
}

}  // namespace backfill::slack
