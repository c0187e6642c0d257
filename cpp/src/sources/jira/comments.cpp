// Jira source: the comments search leaves out. Search embeds at most 20 comments an issue; when
// comment.total says there are more, every comment is read from /rest/api/3/issue/{key}/comment
// before the search page is journaled.
#include <algorithm>
#include <chrono>
#include <cstddef>
#include <vector>

#include <fmt/format.h>

#include "backfill/core/errors.hpp"
#include "backfill/core/log.hpp"
#include "backfill/core/task_group.hpp"
#include "backfill/http/scrub.hpp"
#include "backfill/http/url.hpp"
#include "backfill/sources/jira/jira.hpp"

namespace backfill {

void jira_source::read_comments_of(comment_job& job, const std::vector<http::header>& headers,
                                   run_context& ctx) {
  http::request req;
  req.url = http::with_query(site_ + "/rest/api/3/issue/" + http::url_encode(job.key) + "/comment", "orderBy",
                             "created");
  req.headers = headers;
  http::page_spec spec;
  spec.paging = http::page_spec::kind::offset;
  spec.offset_param = "startAt";
  spec.limit_param = "maxResults";
  spec.page_size = 100;
  spec.total = "/total";
  spec.items = "/comments";
  spec.id_field = "id";
  spec.scan = true;  // journaled as they came; what paging needs is all that is read here
  http::pagination_guard guard(fmt::format("comments of {}", job.key));
  try {
    http::paginate(
        *client_, req, spec, "", guard,
        [&](const http::page& p) {
          comment_requests_.fetch_add(1, std::memory_order_relaxed);
          job.pages += job.pages.empty() ? "" : ",";
          job.pages += p.resp.body;
        },
        &ctx);
  } catch (const http::http_error& e) {
    if (e.status() != 404 && e.status() != 403) throw;
    // Deleted or hidden between the search and now: keep what search embedded.
    logger()->warn("Jira {}: the comments of {} cannot be read ({}); keeping the {} that search returned",
                   http::scrub_url(site_), job.key, e.status(), job.embedded);
    job.pages.clear();
    job.unreadable = true;
  }
}

// The issues of one search page are independent: their comments are read by up to max_in_flight
// threads at once (the host's limits still apply to every request). This thread watches `ctx`; a
// stop or the first failure ends the others at their next request, and the failure of the
// earliest issue is the one raised.
void jira_source::read_comments(std::vector<comment_job>& jobs, const std::vector<http::header>& headers,
                                run_context& ctx) {
  if (jobs.empty()) return;
  if (jobs.size() == 1) return read_comments_of(jobs.front(), headers, ctx);
  const std::size_t workers =
      std::min<std::size_t>(jobs.size(), static_cast<std::size_t>(std::max(1, options_.max_in_flight)));
  task_group group;
  group.for_each(jobs.size(), workers, [&](std::size_t job, std::size_t) {
    // The requests of one issue check a context that stops with the group (a sibling failed) or `ctx`.
    run_context own([&](const progress&) { return group.stopping() || ctx.stop_requested(); },
                    std::chrono::milliseconds(20));
    read_comments_of(jobs[job], headers, own);
  });
  group.wait([&] { ctx.checkpoint(); }, std::chrono::milliseconds(50));
}

}  // namespace backfill
