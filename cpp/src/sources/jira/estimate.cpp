// What `backfill plan` asks Jira: each partition's issues by POST /rest/api/3/search/approximate-count
// (the search API returns no total), the search pages they take at max_results and the comment
// requests beyond them, and the time those requests take at `rate` (the site's own quota is not known
// before its first answers).
#include <algorithm>
#include <cmath>

#include <fmt/format.h>
#include <simdjson.h>

#include "backfill/core/json.hpp"
#include "backfill/core/log.hpp"
#include "backfill/http/scrub.hpp"
#include "backfill/sources/jira/jira.hpp"

namespace backfill {

void jira_source::estimate(std::vector<partition_plan>& partitions, run_context& ctx) {
  // The search's token bucket: `burst` requests at once, then one every 1/rate s, over every partition.
  const double burst = std::max(1.0, options_.rate / 2);
  auto seconds_for = [&](std::int64_t requests) {
    return std::max(0.0, static_cast<double>(requests) - burst) / options_.rate;
  };
  std::int64_t sent = 1;  // the field list, once a run
  simdjson::dom::parser parser;
  std::int64_t counted = 0;
  for (auto& p : partitions) {
    ctx.step(p.label.empty() ? p.name : p.label, counted++);
    std::string jql = initial_jql(p);
    if (auto order = jql.rfind(" ORDER BY "); order != std::string::npos) jql.resize(order);
    http::request r;
    r.method = "POST";
    r.url = site_ + "/rest/api/3/search/approximate-count";
    r.headers = {
        {"Authorization", auth_}, {"Accept", "application/json"}, {"Content-Type", "application/json"}};
    r.body = "{\"jql\":";
    json::append_string(r.body, jql);
    r.body += "}";
    r.expect_json = true;
    std::string body;
    try {
      body = client_->execute(std::move(r), &ctx).body;
    } catch (const http::http_error& e) {
      explain(e, p.name);
    }
    std::int64_t count = 0;
    if (parser.parse(body).at_key("count").get(count) != simdjson::SUCCESS || count < 0)
      throw source_error(fmt::format("Jira {}: the approximate count of {} is not {{\"count\": N}}: {}",
                                     http::scrub_url(site_), p.label, body.substr(0, 200)));
    p.estimated_items = p.estimated_documents = count;  // an issue is a document
    p.estimated_pages = std::max<std::int64_t>(1, (count + options_.max_results - 1) / options_.max_results);
    // Issues with more comments than search embeds need comment requests: as many per issue as the
    // fetches so far (the plan's sample) needed.
    const std::int64_t read = issues_read_.load(std::memory_order_relaxed);
    const std::int64_t comment_requests =
        read > 0 ? static_cast<std::int64_t>(std::llround(static_cast<double>(count) *
                                                          static_cast<double>(comment_requests_.load()) /
                                                          static_cast<double>(read)))
                 : 0;
    p.estimated_requests = p.estimated_pages + comment_requests;
    if (options_.rate > 0) p.estimated_seconds = seconds_for(sent + p.estimated_requests) - seconds_for(sent);
    sent += p.estimated_requests;
    logger()->info("Jira {}: about {} issues, {} search pages", p.label, count, p.estimated_pages);
  }
}

}  // namespace backfill
