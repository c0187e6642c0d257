// Slack's rate limit reported in the body (classify.hpp).
#include "backfill/sources/slack/classify.hpp"

#include <string_view>

#include <simdjson.h>

namespace backfill::slack {

http::verdict classify_response(const http::response& r) {
  // Only small bodies are Slack's error answers; a page of messages is never one.
  const std::string_view body = r.body;
  if (r.status < 200 || r.status >= 400 || body.size() > 4096 ||
      body.find("ratelimited") == std::string_view::npos)
    return http::verdict::pass();
  thread_local simdjson::dom::parser parser;
  simdjson::dom::element root;
  if (parser.parse(body.data(), body.size()).get(root)) return http::verdict::pass();
  bool ok = true;
  std::string_view err;
  if (root["ok"].get(ok) || root["error"].get(err) || ok || err != "ratelimited")
    return http::verdict::pass();
  return http::verdict::retry("ratelimited", /*rate_limited=*/true);
}

}  // namespace backfill::slack
