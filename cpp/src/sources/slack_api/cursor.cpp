#include "backfill/sources/slack_api/cursor.hpp"

namespace backfill::slack_api {
namespace {

constexpr std::string_view version_line = "slack-api/1";

// Slack's cursors are base64 ("dXNlcjpVMDYxTkZUVDI="), ts are digits and a dot: neither holds a
// newline, '=' is only ever looked up as the first one of a line.
void line(std::string& out, std::string_view key, std::string_view value) {
  out += '\n';
  out += key;
  out += '=';
  out += value;
}

}  // namespace

std::string channel_cursor::encode() const {
  std::string out(version_line);
  line(out, "oldest", oldest);
  line(out, "latest", latest);
  line(out, "replies_since", replies_since);
  line(out, "history", history);
  line(out, "history_done", history_done ? "1" : "0");
  std::string joined;
  for (const auto& r : roots) {
    if (!joined.empty()) joined += ',';
    joined += r;
  }
  line(out, "roots", joined);
  line(out, "replies", replies);
  return out;
}

std::optional<channel_cursor> channel_cursor::decode(std::string_view text) {
  std::size_t nl = text.find('\n');
  if (text.substr(0, nl) != version_line) return std::nullopt;
  channel_cursor c;
  while (nl != std::string_view::npos) {
    text.remove_prefix(nl + 1);
    nl = text.find('\n');
    const std::string_view l = text.substr(0, nl);
    const std::size_t eq = l.find('=');
    if (eq == std::string_view::npos) return std::nullopt;
    const std::string_view key = l.substr(0, eq);
    std::string_view value = l.substr(eq + 1);
    if (key == "oldest")
      c.oldest = value;
    else if (key == "latest")
      c.latest = value;
    else if (key == "replies_since")
      c.replies_since = value;
    else if (key == "history")
      c.history = value;
    else if (key == "history_done")
      c.history_done = value == "1";
    else if (key == "replies")
      c.replies = value;
    else if (key == "roots") {
      while (!value.empty()) {
        const std::size_t comma = value.find(',');
        c.roots.emplace_back(value.substr(0, comma));
        value = comma == std::string_view::npos ? std::string_view() : value.substr(comma + 1);
      }
    } else {
      return std::nullopt;
    }
  }
  return c;
}

}  // namespace backfill::slack_api
