#include "sources/slack_api/web_api.hpp"

#include <simdjson.h>

#include <algorithm>
#include <thread>

#include <fmt/format.h>

#include "backfill/core/errors.hpp"
#include "backfill/core/json_items.hpp"
#include "backfill/core/log.hpp"
#include "backfill/core/padded_json.hpp"
#include "backfill/http/retry_after.hpp"
#include "backfill/http/scrub.hpp"
#include "backfill/http/url.hpp"
#include "backfill/sources/slack/classify.hpp"

namespace backfill::slack_api {
namespace {

constexpr double notice_seconds = 5;  // a shorter wait is the ordinary spacing of a tier: not logged

std::string limit_words(const pacer& p, std::string_view method) {
  const method_limit l = p.limit(method);
  if (paged_history(method) && p.non_marketplace())
    return "1 request a minute and 15 messages a page for apps outside the Slack Marketplace, since 2025";
  return fmt::format("{:g} requests a minute", l.per_minute);
}

}  // namespace

json::item_layout message_items(std::string_view channel) {
  return {"/messages", "ts", channel.empty() ? std::string() : "slack:" + std::string(channel) + ":"};
}

std::string_view method_of(std::string_view url) {
  url = url.substr(0, url.find('?'));
  const std::size_t slash = url.rfind('/');
  return slash == std::string_view::npos ? url : url.substr(slash + 1);
}

web_api::web_api(const slack_api_options& options)
    : base_(options.base_url),
      auth_("Bearer " + options.token),
      pacer_(parse_tier(options.tier), options.rate_scale) {
  while (!base_.empty() && base_.back() == '/') base_.pop_back();
  http::client_options o;
  o.service = "Slack";
  o.timeout = options.timeout;
  o.verify_tls = options.verify_tls;
  o.secrets = {options.token};
  // The pacer spaces each method's requests; the engine only caps what is in flight, and pauses the
  // host for as long as a 429's Retry-After says.
  o.default_limit = {0, 1, 4};
  o.classify = [this](const http::response& r) {
    const http::verdict v = slack::classify_response(r);
    const bool limited = r.status == 429 || (v.what == http::verdict::kind::retry && v.rate_limited);
    if (limited) {
      const std::string* after = r.find("retry-after");
      const auto advised =
          after ? http::parse_retry_after(*after, std::chrono::system_clock::now()) : std::nullopt;
      pacer_.defer(method_of(r.url), advised.value_or(1.0), pacer::clock::now());
    }
    if (limited && pacer_.saw_rate_limit(method_of(r.url)))
      logger()->info(
          "Slack: {} answered 429 (rate limited) at Tier 3 pacing: this app gets the 2025 limits of apps "
          "outside the Slack Marketplace (1 request a minute, 15 messages a page for "
          "conversations.history and conversations.replies); pacing for them from now on",
          method_of(r.url));
    return v;
  };
  client_ = std::make_unique<http::client>(std::move(o));
}

void web_api::wait_for_slot(std::string_view method, run_context& ctx) {
  using clock = pacer::clock;
  const clock::time_point start = clock::now();
  const double wait = pacer_.reserve(method, start);
  if (wait <= 0) return;
  if (wait >= notice_seconds)
    logger()->info("Slack: waiting {:.1f} s before {} ({})", wait, method, limit_words(pacer_, method));
  const clock::time_point until =
      start + std::chrono::duration_cast<clock::duration>(std::chrono::duration<double>(wait));
  for (clock::time_point now = start; now < until; now = clock::now()) {
    ctx.checkpoint();
    std::this_thread::sleep_for(std::min<clock::duration>(until - now, std::chrono::milliseconds(50)));
  }
  paced_ms_ += static_cast<std::int64_t>(wait * 1000);
}

answer web_api::call(std::string_view method, const params& args, run_context& ctx) {
  http::request r;
  r.url = base_ + "/" + std::string(method);
  for (const auto& [name, value] : args)
    if (!value.empty()) r.url = http::with_query(r.url, name, value);
  r.headers = {{"Authorization", auth_}, {"Accept", "application/json"}};
  wait_for_slot(method, ctx);
  ++requests_;
  answer a;
  a.resp = client_->execute(std::move(r), &ctx);

  thread_local simdjson::dom::parser parser;
  simdjson::dom::element root;
  std::vector<json::unreadable_item> unreadable;
  const std::string& body = json::readable(a.resp.body, message_items(""), a.mended, unreadable);
  a.is_mended = &body != &a.resp.body;
  if (json::parse_padded(parser, body, root) != simdjson::SUCCESS)
    throw source_error(fmt::format("Slack {} {}: the answer is not JSON (check source.base_url)",
                                   http::scrub_url(base_), method));
  bool ok = false;
  if (root["ok"].get(ok) != simdjson::SUCCESS)
    throw source_error(fmt::format("Slack {} {}: the answer has no \"ok\" (check source.base_url)",
                                   http::scrub_url(base_), method));
  std::string_view s;
  if (!ok) {
    a.error = root["error"].get(s) == simdjson::SUCCESS ? std::string(s) : std::string("unknown_error");
    if (root["needed"].get(s) == simdjson::SUCCESS) a.needed = s;
  }
  if (root.at_pointer("/response_metadata/next_cursor").get(s) == simdjson::SUCCESS) a.next_cursor = s;
  bool more = false;
  if (root["has_more"].get(more) == simdjson::SUCCESS) a.has_more = more;

  const std::string& e = a.error;
  if (e == "invalid_auth" || e == "not_authed" || e == "token_revoked" || e == "token_expired" ||
      e == "account_inactive")
    throw source_error(fmt::format(
        "Slack {} refused the token ({}) on {}: {}", http::scrub_url(base_), e, method,
        e == "not_authed" || e == "invalid_auth"
            ? "check source.token (a bot token xoxb-... or user token xoxp-... of this workspace)"
            : "the token was revoked or its app uninstalled; reinstall the app and set the new token in "
              "source.token"));
  return a;
}

}  // namespace backfill::slack_api
