// Calls of Slack Web API methods: paced (pacer.hpp), authorized with the token (sent to base_url's
// host only, scrubbed from every message), and their answers read: `ok`, `error`, and for
// missing_scope the scope `needed`. An answer that no channel can get past (a bad, revoked or
// inactive token) stops the run at once with a line saying what to fix.
#pragma once

#include <atomic>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "backfill/core/context.hpp"
#include "backfill/core/json_items.hpp"
#include "backfill/http/client.hpp"
#include "backfill/sources/slack_api/pacer.hpp"
#include "backfill/sources/slack_api/slack_api.hpp"

namespace backfill::slack_api {

using params = std::vector<std::pair<std::string, std::string>>;

// Where a history or replies answer keeps its messages; an unreadable one is named as a message of
// `channel` ("" names none).
json::item_layout message_items(std::string_view channel);

struct answer {
  http::response resp;
  std::string error;   // "" when ok
  std::string needed;  // missing_scope: the scope the token lacks
  std::string next_cursor;
  bool has_more = false;
  // The body as it parses: resp.body, or (when some messages cannot be read: invalid UTF-8, a lone
  // surrogate, nesting too deep) a copy with those messages null; the journal keeps resp.body.
  const std::string& json() const { return is_mended ? mended : resp.body; }
  std::string mended;
  bool is_mended = false;
};

class web_api {
 public:
  explicit web_api(const slack_api_options& options);

  // Calls `method` with `args`. Throws source_error for a token error, http_error when HTTP fails.
  answer call(std::string_view method, const params& args, run_context& ctx);

  pacer& pace() { return pacer_; }
  const std::string& base_url() const { return base_; }
  std::int64_t requests() const { return requests_.load(); }
  double paced_seconds() const { return static_cast<double>(paced_ms_.load()) / 1000.0; }

 private:
  void wait_for_slot(std::string_view method, run_context& ctx);

  std::string base_;
  std::string auth_;
  pacer pacer_;
  std::unique_ptr<http::client> client_;
  std::atomic<std::int64_t> requests_{0};
  std::atomic<std::int64_t> paced_ms_{0};
};

// The Web API method a request URL calls ("conversations.history"), from its last path segment.
std::string_view method_of(std::string_view url);

}  // namespace backfill::slack_api
