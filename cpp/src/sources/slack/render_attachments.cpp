// Message attachments (Slack's "secondary attachments") in the order Slack shows them: the pretext
// above the card, then the service and author line, the title (a link to title_link), the text, the
// fields (title over value), legacy action buttons, and the footer. A card without a text of its own
// (a link unfurl, a bare title) reads with its fallback in place of the text, as the clients without
// cards show it; colours, images, icons, ids and callback values are not text and stay out.
#include <string>
#include <string_view>

#include "sources/slack/fields.hpp"
#include "sources/slack/render_parts.hpp"

namespace backfill::slack {
namespace {

using simdjson::dom::element;
using simdjson::dom::object;

// Appends `part` after `sep` unless it is empty; `parts` counts what the card line holds so far.
void add_part(std::string& out, std::size_t& parts, std::string_view sep, std::string_view part) {
  if (part.empty()) return;
  if (parts++ > 0) out.append(sep);
  out.append(part);
}

// The fields, a line each: "title: value" (or either alone).
void append_fields(std::string& out, simdjson::dom::array fields, const directory& dir) {
  for (element f : fields) {
    object fo;
    if (f.get_object().get(fo) != simdjson::SUCCESS) continue;
    const std::string_view title = str(fo, "title");
    const std::string_view value = str(fo, "value");
    if (title.empty() && value.empty()) continue;
    out.push_back('\n');
    append_unescaped(out, title);
    if (!title.empty() && !value.empty()) out.append(": ");
    append_text(out, value, dir);
  }
}

// Legacy interactive buttons (attachment "actions"): "[Approve] [Deny]" on a line.
void append_actions(std::string& out, simdjson::dom::array actions) {
  bool first = true;
  for (element a : actions) {
    object ao;
    if (a.get_object().get(ao) != simdjson::SUCCESS) continue;
    const std::string_view text = str(ao, "text");
    if (text.empty()) continue;
    out.append(first ? "\n[" : " [");
    append_unescaped(out, text);
    out.push_back(']');
    first = false;
  }
}

}  // namespace

void append_attachment(std::string& out, object a, const directory& dir) {
  std::string title;
  append_text(title, str(a, "title"), dir);
  std::string body;
  append_text(body, str(a, "text"), dir);
  if (auto blocks = arr(a, "blocks")) {
    std::string rendered;
    append_blocks(rendered, *blocks, dir);
    if (!rendered.empty()) {
      if (!body.empty()) body.push_back('\n');
      body += rendered;
    }
  }
  const bool textless = body.empty();
  if (body == title) body.clear();
  std::string link;
  append_unescaped(link, str(a, "title_link"));
  if (link.empty()) append_unescaped(link, str(a, "from_url"));
  std::string author;  // "YouTube: chriskam1250"
  append_unescaped(author, str(a, "service_name"));
  if (auto name = str(a, "author_name"); !name.empty()) {
    if (!author.empty()) author.append(": ");
    append_unescaped(author, name);
  }
  std::string tail;  // fields, buttons and footer, each on lines of their own
  if (auto fields = arr(a, "fields")) append_fields(tail, *fields, dir);
  if (auto actions = arr(a, "actions")) append_actions(tail, *actions);
  if (auto footer = str(a, "footer"); !footer.empty()) {
    tail.push_back('\n');
    append_text(tail, footer, dir);
  }

  std::string pretext;
  append_text(pretext, str(a, "pretext"), dir);
  if (textless && tail.empty()) {
    append_text(body, str(a, "fallback"), dir);
    if (body == title || body == pretext) body.clear();
  }
  if (!pretext.empty()) {
    new_line(out);
    out.append(pretext);
  }
  if (author.empty() && title.empty() && body.empty() && link.empty() && tail.empty()) return;
  new_line(out);
  out.append("[attachment: ");
  std::size_t parts = 0;
  add_part(out, parts, ": ", author);
  add_part(out, parts, ": ", title);
  add_part(out, parts, ": ", body);
  add_part(out, parts, " ", link);
  out.append(parts == 0 ? std::string_view(tail).substr(1) : std::string_view(tail));  // tail opens a line
  out.push_back(']');
}

}  // namespace backfill::slack
