// Source: Jira Cloud over REST v3.
//   - Search with /rest/api/3/search/jql, nextPageToken and isLast (never startAt: the old
//     /rest/api/3/search is gone, HTTP 410); the JQL is always bounded by project and `updated` and
//     ordered by key; the fields are asked for explicitly.
//   - Search embeds at most 20 comments; when comment.total says there are more, all of them are read
//     from /rest/api/3/issue/{key}/comment (offset paging behind the pagination guard) before the page
//     is journaled, so a journal page is whole: {"search": <raw>, "comments": {"KEY": [<raw>, ...]}}.
//   - Partitions: one per project, optionally split into windows of `window_days` on `updated`, so
//     huge projects resume finely; partitions are fetched one after another under the host's limits.
//   - The field catalogue (GET /rest/api/3/field) is read once per run: `fields` names what the
//     documents show by display name, the search asks for those fields' ids, and each journal page
//     carries the chosen catalogue entries (see sources/jira/catalogue.hpp).
//   - `backfill plan` (estimate) asks POST /rest/api/3/search/approximate-count for each partition's
//     JQL; the comment requests an issue needs come from the plan's sample.
//   - Incremental: a finished partition is fetched again on a later run from its highest `updated`
//     minus `overlap_minutes` (as a relative JQL bound, so the user's time zone cannot shift it);
//     unchanged issues are then skipped by content hash. Issues quarantined (unreadable) are searched for
//     again by key before it, so one the site has fixed is read without fetching the project again.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "backfill/core/fields.hpp"
#include "backfill/http/client.hpp"
#include "backfill/http/paginate.hpp"
#include "backfill/sources/source.hpp"

namespace simdjson::dom {
class element;
}

namespace backfill {

namespace jira_catalogue {
struct choice;
}

struct jira_options {
  std::string url;  // https://your-domain.atlassian.net (or http://127.0.0.1:PORT)
  std::string email;
  std::string token;  // API token
  std::vector<std::string> projects;
  std::string jql;    // an extra filter, ANDed in
  std::string since;  // lower bound on `updated` for the first run: "yyyy-MM-dd" or "yyyy-MM-dd HH:mm"
  int window_days = 0;
  int max_results = 100;
  int overlap_minutes = 60;
  double rate = 0;  // requests per second to the site at most; 0 = as the site's rate-limit headers allow
  int max_in_flight = 4;
  double timeout = 60;
  bool verify_tls = true;
  // Comments whose `visibility` restricts them to a role or group are left out unless this is on;
  // then they are kept and the document's `visibility` metadata lists each restriction as
  // "type:value" ("role:Administrators"), for a query layer to filter on.
  bool include_restricted = false;
  // The issue fields the documents show ("Name: value" lines and metadata), by the display names of
  // the site's field catalogue (any case) or by field id. Empty: the issue view's fields (status,
  // resolution, priority, assignee, reporter, labels, components, fix versions, parent, sub-tasks,
  // linked issues, attachments) and every rich-text custom field. Summary, description and comments
  // are always read.
  std::vector<std::string> fields;
};
BACKFILL_FIELDS(jira_options, &s::url, &s::email, &s::token, &s::projects, &s::jql, &s::since,
                &s::window_days, &s::max_results, &s::overlap_minutes, &s::rate, &s::max_in_flight,
                &s::timeout, &s::verify_tls, &s::include_restricted, &s::fields)

class jira_source final : public source {
 public:
  explicit jira_source(jira_options options);
  ~jira_source() override;

  std::string kind() const override { return "jira"; }
  std::string id_prefix() const override { return "jira:"; }
  std::string describe() const override;
  std::vector<partition_plan> plan(run_context& ctx) override;
  // Each partition's issues by POST /rest/api/3/search/approximate-count with its JQL, its pages at
  // max_results and, with `rate`, its time at that rate (estimate.cpp).
  void estimate(std::vector<partition_plan>& partitions, run_context& ctx) override;
  bool incremental() const override { return true; }
  bool pages_self_contained() const override { return true; }  // a page carries its issues' comments
  std::string reopen_cursor(const partition_plan& partition, std::string_view watermark) override;
  // A partition's quarantined issues are searched for again by key (then its changes as usual).
  bool requeries_items() const override { return true; }
  std::string requery_cursor(const partition_plan& partition, std::string_view watermark,
                             const std::vector<std::string>& ids) override;
  void fetch(const partition_plan& partition, std::string_view cursor, page_sink& out,
             run_context& ctx) override;
  // Every issue key in the partition's scope (project, window, since, jql) as document ids.
  bool can_list_ids() const override { return true; }
  void list_ids(const partition_plan& partition, const item_fn& fn, run_context& ctx) override;
  void page_items(std::string_view partition, const std::string& body, const item_fn& fn) override;
  // GET /rest/api/3/myself, then the pagination probe (which also meets a 410 of a site without
  // /rest/api/3/search/jql): preflight.cpp.
  void preflight(preflight_checks& out, run_context& ctx) override;
  json::item_layout journal_items(std::string_view) const override {
    return {"/search/issues", "key", "jira:"};
  }
  void normalize(std::string_view partition, page_reader& pages, const document_fn& emit,
                 run_context& ctx) override;

 private:
  std::string partition_jql(std::string_view partition, std::string_view lower_bound) const;
  // The JQL of a partition's first fetch: from its window's first day, else from `since`.
  std::string initial_jql(const partition_plan& partition) const;
  http::request search_request(const std::string& jql, std::string_view fields) const;
  static http::page_spec search_paging();
  // An issue whose comments go beyond the ones search embeds, and its comment pages once read.
  struct comment_job {
    std::string key;
    std::size_t embedded = 0;
    std::string pages;        // the comment page bodies, comma-separated
    bool unreadable = false;  // 403/404: search's embedded comments are kept
  };
  void read_comments_of(comment_job& job, const std::vector<http::header>& headers, run_context& ctx);
  void read_comments(std::vector<comment_job>& jobs, const std::vector<http::header>& headers,
                     run_context& ctx);
  [[noreturn]] void explain(const http::http_error& e, std::string_view partition) const;
  // The fields shown, chosen from the site's field catalogue, read on the first call of a run.
  const jira_catalogue::choice& shown_fields(run_context& ctx);

  jira_options options_;
  std::string site_;
  std::string auth_;  // "Basic ..."
  std::unique_ptr<http::client> client_;
  // Issues the fetches read and the comment pages they needed beyond search, for estimate(): the
  // plan's sample tells how many comment requests an issue takes on this site.
  std::atomic<std::int64_t> issues_read_{0};
  std::atomic<std::int64_t> comment_requests_{0};
  std::mutex catalogue_mu_;
  std::unique_ptr<jira_catalogue::choice> catalogue_;  // set by shown_fields()
};

// Hears of a value normalize leaves out: its kind ("jira field customfield_10050") and a message
// naming the issue and the field.
using jira_warn_fn = std::function<void(std::string_view kind, const std::string& message)>;

// Turns one journal page ({"search": ..., "comments": ..., "fields": [<the catalogue entries of the
// fields shown>]}) into documents. `site` is the base of the browse links. `warn` hears of each field
// value whose shape is not read (it is left out of the document); `include_restricted` as in
// jira_options.
// `skip` hears of an issue left out for a field it lacks (with its key); issues that are null
// (unreadable, quarantined before) are passed over.
void normalize_jira_page(const std::string& body, std::string_view site, const document_fn& emit,
                         const jira_warn_fn& warn = {}, bool include_restricted = false,
                         const skip_fn& skip = {});

// Jira's "2024-01-15T10:30:00.000+0100" as UTC ISO 8601 ("2024-01-15T09:30:00Z"); "" if unparseable.
std::string jira_time_to_utc(std::string_view t);

}  // namespace backfill
