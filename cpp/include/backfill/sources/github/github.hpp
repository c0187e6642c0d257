// Source: GitHub (github.com or GitHub Enterprise Server) over REST v3.
//   - Partitions: one per repository ("owner/name"); an "owner/*" entry expands through
//     /orgs/{owner}/repos (or /users/{owner}/repos for a user). Each repository is read in phases,
//     one after another: the issues list (pull requests come through it, marked by `pull_request`),
//     then the repository-wide issue comments (/issues/comments) and review comments
//     (/pulls/comments), each with `since`, 100 a page, followed by the Link header behind the
//     pagination guard. Per pull request on an issues page, its reviews and (only when the issue
//     lacks `pull_request.merged_at`) /pulls/{n} are read before the page is journaled, so a journal
//     page is whole: {"kind":"issues","body":<raw>,"pulls":{"n":<raw>},"reviews":{"n":[<raw>...]}},
//     and "unreadable":{"n":<why>} for a pull request whose reviews or details cannot be read.
//   - Lists are read newest first (`direction=desc`): with page numbers, an item updated while the
//     list is read moves to the front, so later pages repeat an item but never skip one (in
//     ascending order they would skip one each time). Repeats are merged by id in normalize.
//   - Incremental: a finished repository is read again from its highest issue `updated_at` minus
//     `overlap_minutes` (every phase with that `since`); unchanged documents are skipped by hash.
//     Each phase's first page goes with If-None-Match (the ETag it had last time, kept in the cursor
//     and the watermark, sources/github/cursor.hpp): a 304 costs nothing against the primary limit
//     and means the phase has nothing new.
//   - Rate limits: the primary budget (x-ratelimit-*) is paced so the second half of a window's
//     budget spreads evenly until its reset; secondary limits (403/429 with Retry-After or a message)
//     hold every new request for as long as GitHub asks (at least a minute without Retry-After).
//     Waits are logged at INFO with their reason and length (sources/github/rate.hpp).
//   - `backfill plan` (estimate) counts, per repository, the issues, pull requests, comments and review
//   comments a full
//     fetch reads (four one-item list requests) and the requests and time that takes at the rate
//     limit as it stands (logged at INFO, and in the plan's partitions).
//   - reconcile lists every issue and pull request number in scope: deleted and transferred issues
//     are gone from their repository's list, so their documents are deleted.
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "backfill/core/fields.hpp"
#include "backfill/http/client.hpp"
#include "backfill/http/paginate.hpp"
#include "backfill/sources/source.hpp"

namespace simdjson::dom {
class parser;
}  // namespace simdjson::dom

namespace backfill {

namespace github_detail {
class rate_governor;
struct known;
}  // namespace github_detail

struct github_options {
  std::string token;  // fine-grained or classic; sent only to base_url's host
  // "owner/name" or "owner/*" (every repository of an organization or user).
  std::vector<std::string> repos;
  std::string since;  // lower bound on `updated_at` for the first run: "2024-01-31" or ISO 8601 UTC
  // What the documents hold: issues, pulls (issues and pull requests are the documents);
  // issue_comments, review_comments, reviews (their conversation).
  std::vector<std::string> include = {"issues", "pulls", "issue_comments", "review_comments", "reviews"};
  std::string state = "all";                        // all | open | closed
  std::string base_url = "https://api.github.com";  // GitHub Enterprise Server: https://HOST/api/v3
  std::string api_version = "2022-11-28";           // X-GitHub-Api-Version
  bool include_archived = false;                    // archived repositories of an "owner/*" entry
  int per_page = 100;
  int overlap_minutes = 60;
  double rate = 10;       // requests per second at most, whatever the budget says
  int max_in_flight = 2;  // GitHub asks for serial requests; a little overlap hides latency
  // Requests of the primary budget left for others sharing the token: at this many the run waits for
  // the reset.
  int reserve = 50;
  double timeout = 60;
  bool verify_tls = true;
};
BACKFILL_FIELDS(github_options, &s::token, &s::repos, &s::since, &s::include, &s::state, &s::base_url,
                &s::api_version, &s::include_archived, &s::per_page, &s::overlap_minutes, &s::rate,
                &s::max_in_flight, &s::reserve, &s::timeout, &s::verify_tls)

class github_source final : public source {
 public:
  explicit github_source(github_options options);
  ~github_source() override;

  std::string kind() const override { return "github"; }
  std::string describe() const override;
  std::vector<partition_plan> plan(run_context& ctx) override;
  void estimate(std::vector<partition_plan>& partitions, run_context& ctx) override;
  bool incremental() const override { return true; }
  std::string reopen_cursor(const partition_plan& partition, std::string_view watermark) override;
  // The highest issue updated_at of the watermark (not the ETags it carries).
  std::string describe_watermark(std::string_view watermark) const override;
  void fetch(const partition_plan& partition, std::string_view cursor, page_sink& out,
             run_context& ctx) override;
  bool can_list_ids() const override { return true; }
  void list_ids(const partition_plan& partition, const item_fn& fn, run_context& ctx) override;
  void page_items(std::string_view partition, const std::string& body, const item_fn& fn) override;
  // GET /rate_limit (free against the budget), then the pagination probe: preflight.cpp.
  void preflight(preflight_checks& out, run_context& ctx) override;
  // The list under "body" of a journal page; an item that cannot be read is named as its document
  // (an issue) or as page_items names it (a comment). A pull request whose reviews or details cannot
  // be read is quarantined by normalize (the page's "unreadable" member says why).
  json::item_layout journal_items(std::string_view partition) const override;
  // Comments live on pages of their own, so normalize reads all of a repository's pages before it
  // emits a document: following a fetch in progress (the pipeline's use of this) is safe, and the
  // repositories fetched before one that fails are ingested.
  bool pages_self_contained() const override { return true; }
  void normalize(std::string_view partition, page_reader& pages, const document_fn& emit,
                 run_context& ctx) override;

  bool includes(std::string_view what) const;

 private:
  http::request get(std::string url) const;
  std::string repo_url(std::string_view repo, std::string_view tail) const;
  // The first URL of a phase ("issues", "issue_comments", "review_comments") of `repo`.
  std::string phase_url(std::string_view repo, std::string_view phase, std::string_view since) const;
  using open_counts = std::map<std::string, std::int64_t>;  // open_issues_count by repository
  std::vector<std::string> expand_owner(const std::string& owner, run_context& ctx);
  // The items of a list (its Link header's last page at one item a page), for the plan.
  std::int64_t count(const std::string& url, run_context& ctx);
  // Reads one phase from `url` to its end; `next_phase` is where the cursor goes after it.
  void fetch_phase(const partition_plan& partition, const std::string& phase, const std::string& since,
                   const std::string& url, const std::string& next_phase, github_detail::known& k,
                   page_sink& out, run_context& ctx);
  // The reviews and (when the issue lacks merged_at) the pull request of each pull request on an
  // issues page, as the JSON members "pulls" and "reviews" of its journal page.
  // `prs`: the page's pull requests, each with whether its details (/pulls/{n}) must be read;
  // `parser` is free to reuse.
  std::string pull_extras(std::string_view repo, const std::vector<std::pair<std::string, bool>>& prs,
                          simdjson::dom::parser& parser, run_context& ctx);
  [[noreturn]] void explain(const http::http_error& e, std::string_view what) const;

  github_options options_;
  std::string api_;  // base_url without a trailing slash
  std::string auth_;
  std::unique_ptr<github_detail::rate_governor> rate_;
  std::unique_ptr<http::client> client_;
  std::mutex missing_mu_;
  std::set<std::string> missing_;  // repositories the plan could not find (404)
  open_counts open_;               // what the repository objects the plan read say (guarded by missing_mu_)
};

// Turns the journal pages of one repository into documents, one per issue or pull request, every
// comment, review comment and review in order of creation. `include` as in github_options.
void normalize_github_repo(std::string_view repo, page_reader& pages, const std::vector<std::string>& include,
                           const document_fn& emit, run_context* ctx = nullptr);

// GitHub-flavoured Markdown as readable text, appended to `out`: fenced and inline code kept as
// written, HTML comments (issue templates' instructions) dropped, images as "alt (url)", links as
// "text (url)" (just the URL when the text is the URL), mentions and the rest as written.
void github_markdown_to_text(std::string_view markdown, std::string& out);

}  // namespace backfill
