// Where a conversation's fetch stands, as the cursor the ledger keeps: the history window (`oldest`,
// `latest`), the next history cursor, the thread roots of the last history page whose replies are
// still to read, and the next replies cursor of the first of them. Written as "key=value" lines
// after a version line, so it reads in a ledger dump.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace backfill::slack_api {

struct channel_cursor {
  std::string oldest;         // history after this ts ("" = from the start)
  std::string latest;         // history up to this ts, fixed when the pass starts
  std::string replies_since;  // roots need their replies read when latest_reply is past this ("" = all)
  std::string history;        // Slack's next_cursor for history ("" = the first page)
  bool history_done = false;
  std::vector<std::string> roots;  // thread roots (ts) whose replies are still to read, in order
  std::string replies;             // Slack's next_cursor for the replies of roots.front()

  bool finished() const { return history_done && roots.empty(); }
  std::string encode() const;
  // nullopt when `text` is not a cursor this source wrote.
  static std::optional<channel_cursor> decode(std::string_view text);
};

}  // namespace backfill::slack_api
