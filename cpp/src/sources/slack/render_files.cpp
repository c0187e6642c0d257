// Files shared in a message as a reader sees them in the channel: the title (and the file name when
// it says something else), then the preview lines Slack shows for a snippet or a text file. The
// file's URLs are not shown (and the private ones carry tokens), so they stay out of the text.
#include <string>
#include <string_view>

#include "sources/slack/fields.hpp"
#include "sources/slack/render_parts.hpp"

namespace backfill::slack {

void append_file(std::string& out, simdjson::dom::object file) {
  const std::string_view title = str(file, "title");
  const std::string_view name = str(file, "name");
  if (title.empty() && name.empty()) return;
  new_line(out);
  out.append("[file: ");
  out.append(title.empty() ? name : title);
  if (!title.empty() && !name.empty() && name != title) {
    out.append(" (");
    out.append(name);
    out.push_back(')');
  }
  out.push_back(']');
  // The preview: plain text, its line ends as the uploader's editor wrote them ("\r\n" included).
  std::string_view preview = str(file, "preview");
  while (!preview.empty()) {
    const std::size_t end = preview.find('\n');
    std::string_view line = preview.substr(0, end);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (!line.empty()) {
      out.push_back('\n');
      out.append(line);
    }
    if (end == std::string_view::npos) break;
    preview.remove_prefix(end + 1);
  }
}

}  // namespace backfill::slack
