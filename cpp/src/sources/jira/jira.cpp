// Jira source, the HTTP side: partitions (projects, windows on `updated`), the JQL of each, and the
// search pages fetched with nextPageToken, each journaled whole with the comments search left out
// (comments.cpp). Journal pages become documents in normalize.cpp.
#include "backfill/sources/jira/jira.hpp"

#include <algorithm>
#include <ctime>
#include <utility>

#include <fmt/format.h>

#include "backfill/core/errors.hpp"
#include "backfill/core/json.hpp"
#include "backfill/core/json_walk.hpp"
#include "backfill/core/log.hpp"
#include "backfill/http/quota_headers.hpp"
#include "backfill/http/scrub.hpp"
#include "backfill/http/url.hpp"
#include "backfill/sources/jira/catalogue.hpp"
#include "backfill/sources/user_filter.hpp"
#include "sources/jira/page_json.hpp"
#include "sources/jira/search_page.hpp"

namespace backfill {
namespace {

using jira_search::issue_facts;
using jira_search::read_issues;
using jira_search::scan_issue_member;

std::string base64(std::string_view in) {
  static const char* tbl = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  std::size_t i = 0;
  while (i + 2 < in.size()) {
    unsigned v = (static_cast<unsigned char>(in[i]) << 16) | (static_cast<unsigned char>(in[i + 1]) << 8) |
                 static_cast<unsigned char>(in[i + 2]);
    out += tbl[(v >> 18) & 63];
    out += tbl[(v >> 12) & 63];
    out += tbl[(v >> 6) & 63];
    out += tbl[v & 63];
    i += 3;
  }
  if (i < in.size()) {
    unsigned v = static_cast<unsigned char>(in[i]) << 16;
    if (i + 1 < in.size()) v |= static_cast<unsigned char>(in[i + 1]) << 8;
    out += tbl[(v >> 18) & 63];
    out += tbl[(v >> 12) & 63];
    out += i + 1 < in.size() ? tbl[(v >> 6) & 63] : '=';
    out += '=';
  }
  return out;
}

std::string jql_quote(std::string_view s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') out.push_back('\\');
    out.push_back(c);
  }
  out.push_back('"');
  return out;
}

std::string day(std::time_t t) {
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[16];
  std::strftime(buf, sizeof buf, "%Y-%m-%d", &tm);
  return buf;
}

std::time_t parse_day(std::string_view d) {
  std::tm tm{};
  std::string s(d.substr(0, 10));
  if (!strptime(s.c_str(), "%Y-%m-%d", &tm)) return -1;
  return timegm(&tm);
}

}  // namespace

jira_source::jira_source(jira_options options) : options_(std::move(options)) {
  if (options_.url.empty())
    throw config_error("source.url is required (your site, e.g. https://your-domain.atlassian.net)");
  if (options_.email.empty())
    throw config_error("source.email is required (the account the API token belongs to)");
  if (options_.token.empty())
    throw config_error(
        "source.token is required (set it from the environment: token = \"${JIRA_API_TOKEN}\")");
  if (options_.projects.empty() && options_.jql.empty())
    throw config_error("source.projects is required (the project keys to backfill), or a source.jql filter");
  if (!options_.jql.empty()) check_user_filter(options_.jql, "source.jql");
  if (options_.window_days < 0) throw config_error("source.window_days must be 0 (no windows) or positive");
  if (options_.window_days > 0 && options_.since.empty())
    throw config_error("source.since is required with source.window_days (where the first window starts)");
  if (!options_.since.empty() && parse_day(options_.since) < 0)
    throw config_error(fmt::format("source.since must look like 2024-01-31, got '{}'", options_.since));
  if (options_.max_results < 1 || options_.max_results > 5000)
    throw config_error(
        fmt::format("source.max_results must be between 1 and 5000, got {}", options_.max_results));
  for (const auto& p : options_.projects)
    if (p.empty() || p.find_first_of("\"\\ ") != std::string::npos)
      throw config_error(fmt::format("source.projects: '{}' is not a project key", p));
  site_ = options_.url;
  while (!site_.empty() && site_.back() == '/') site_.pop_back();
  auth_ = "Basic " + base64(options_.email + ":" + options_.token);
  http::client_options o;
  o.service = "Jira";
  o.timeout = options_.timeout;
  o.verify_tls = options_.verify_tls;
  o.secrets = {options_.token, auth_.substr(6)};
  o.default_limit = {options_.rate, std::max(1.0, options_.rate / 2), options_.max_in_flight};
  // Paced by the site's own X-RateLimit-* and Retry-After (http/quota.hpp), `rate` only caps it.
  o.shared_quota = std::make_shared<http::quota>("Jira");
  o.read_quota = http::read_jira_quota;
  client_ = std::make_unique<http::client>(std::move(o));
}

jira_source::~jira_source() = default;

std::string jira_source::describe() const {
  std::string what = options_.projects.empty() ? "JQL filter" : "projects ";
  for (std::size_t i = 0; i < options_.projects.size(); ++i) what += (i ? ", " : "") + options_.projects[i];
  return fmt::format("Jira {} ({})", http::scrub_url(site_), what);
}

std::vector<partition_plan> jira_source::plan(run_context&) {
  std::vector<std::string> keys = options_.projects;
  if (keys.empty()) keys.push_back("*");  // the JQL filter alone
  std::vector<partition_plan> out;
  for (const auto& key : keys) {
    if (options_.window_days <= 0) {
      out.push_back({key, key == "*" ? "JQL" : key, -1, -1});
      continue;
    }
    std::time_t start = parse_day(options_.since);
    std::time_t now = std::time(nullptr);
    const std::time_t step = static_cast<std::time_t>(options_.window_days) * 86400;
    for (std::time_t w = start; w <= now; w += step)
      out.push_back({key + "@" + day(w), key + " from " + day(w), -1, -1});
  }
  return out;
}

std::string jira_source::partition_jql(std::string_view partition, std::string_view lower_bound) const {
  std::string key(partition.substr(0, partition.find('@')));
  std::string jql;
  if (key != "*") jql = "project = " + jql_quote(key) + " AND ";
  jql += "updated >= " + std::string(lower_bound);
  if (auto at = partition.find('@'); at != std::string_view::npos) {
    std::time_t start = parse_day(partition.substr(at + 1));
    std::time_t end = start + static_cast<std::time_t>(options_.window_days) * 86400;
    if (end <= std::time(nullptr))
      jql += " AND updated < " + jql_quote(day(end));  // the last window stays open
  }
  if (!options_.jql.empty()) jql += " AND (" + options_.jql + ")";
  jql += " ORDER BY key ASC";
  return jql;
}

std::string jira_source::initial_jql(const partition_plan& partition) const {
  const auto at = partition.name.find('@');  // a window starts at its own day
  const std::string lower = at != std::string::npos  ? partition.name.substr(at + 1)
                            : options_.since.empty() ? "1970-01-01"
                                                     : options_.since;
  return partition_jql(partition.name, jql_quote(lower));
}

http::request jira_source::search_request(const std::string& jql, std::string_view fields) const {
  http::request r;
  r.url = http::with_query(site_ + "/rest/api/3/search/jql", "jql", jql);
  r.url = http::with_query(r.url, "maxResults", std::to_string(options_.max_results));
  r.url = http::with_query(r.url, "fields", fields);
  r.headers = {{"Authorization", auth_}, {"Accept", "application/json"}};
  return r;
}

// /rest/api/3/search/jql pages: nextPageToken until isLast, issues identified by key.
http::page_spec jira_source::search_paging() {
  http::page_spec spec;
  spec.paging = http::page_spec::kind::token;
  spec.token_param = "nextPageToken";
  spec.next_token = "/nextPageToken";
  spec.is_last = "/isLast";
  spec.items = "/issues";
  spec.id_field = "key";
  spec.scan = true;  // the fetch reads a few fields of each issue; the ingest parses the page whole
  return spec;
}

std::string jira_source::reopen_cursor(const partition_plan& partition, std::string_view watermark) {
  std::time_t mark = -1;
  if (watermark.size() >= 19) {
    std::tm tm{};
    std::string w(watermark.substr(0, 19));
    if (strptime(w.c_str(), "%Y-%m-%dT%H:%M:%S", &tm)) mark = timegm(&tm);
  }
  if (mark < 0) return initial_jql(partition) + "\n";
  // JQL reads dates in the user's time zone (UTC-12 to UTC+14). Writing the UTC watermark minus the
  // overlap and 14 hours reaches back far enough in every zone; an absolute bound (unlike "-90m")
  // also means the same thing when an interrupted fetch resumes hours later.
  std::time_t bound = mark - static_cast<std::time_t>(options_.overlap_minutes) * 60 - 14 * 3600;
  std::tm tm{};
  gmtime_r(&bound, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M", &tm);
  return partition_jql(partition.name, jql_quote(buf)) + "\n";
}

// The quarantined issues by key first, then the changes: one JQL cannot do both, as the search must be
// bounded by `updated` at its top level. The cursor is "<key search>\n\n<reopen cursor>", which fetch
// reads as a search, its page token and the cursor that follows it.
std::string jira_source::requery_cursor(const partition_plan& partition, std::string_view watermark,
                                        const std::vector<std::string>& ids) {
  if (ids.empty() || ids.size() > static_cast<std::size_t>(std::max(options_.max_results, 1))) return {};
  std::string keys;
  for (const auto& id : ids) {
    if (id.size() <= 5 || id.compare(0, 5, "jira:") != 0) return {};  // an issue whose key was not read
    keys += (keys.empty() ? "" : ", ") + jql_quote(std::string_view(id).substr(5));
  }
  std::string jql = initial_jql(partition);
  const std::string_view order = " ORDER BY key ASC";  // partition_jql's ending
  jql.insert(jql.size() - order.size(), " AND key in (" + keys + ")");
  return jql + "\n\n" + reopen_cursor(partition, watermark);
}

void jira_source::explain(const http::http_error& e, std::string_view partition) const {
  std::string site = http::scrub_url(site_);
  const std::exception_ptr cause = std::make_exception_ptr(e);  // the status and request id stay reachable
  switch (e.status()) {
    case 401:
      throw source_error(
          fmt::format("Jira {} rejected the credentials (401): check source.email and source.token (the "
                      "Atlassian account's email, and an API token of that account from "
                      "id.atlassian.com/manage-profile/security/api-tokens, not its password)",
                      site),
          cause);
    case 403:
      throw source_error(
          fmt::format("Jira {}: no permission to search {} (403): {}; the account of source.email "
                      "needs the Browse Projects permission on it (a Jira admin grants it), "
                      "or leave it out of source.projects",
                      site, partition, e.body_excerpt()),
          cause);
    case 404:
      throw source_error(fmt::format("Jira {} has no /rest/api/3/search/jql (404): check source.url: {}",
                                     site, e.body_excerpt()),
                         cause);
    case 410:
      throw source_error(fmt::format("Jira {} answered 410 Gone: Atlassian removed the old search API "
                                     "(/rest/api/3/search, CHANGE-2046); "
                                     "backfill uses /rest/api/3/search/jql, which this server did not serve "
                                     "either. Check that source.url is "
                                     "a Jira Cloud site: {}",
                                     site, e.body_excerpt()),
                         cause);
    case 400:
      if (e.body_excerpt().find("does not exist for the field 'project'") != std::string::npos)
        throw source_error(
            fmt::format("Jira {}: unknown project {} (400): {}", site,
                        std::string(partition.substr(0, partition.find('@'))), e.body_excerpt()),
            cause);
      throw source_error(
          fmt::format("Jira {} refused the search for {} (400): {}", site, partition, e.body_excerpt()),
          cause);
    default: throw;
  }
}

const jira_catalogue::choice& jira_source::shown_fields(run_context& ctx) {
  std::lock_guard lock(catalogue_mu_);
  if (catalogue_) return *catalogue_;
  http::request r;
  r.url = site_ + "/rest/api/3/field";
  r.headers = {{"Authorization", auth_}, {"Accept", "application/json"}};
  std::string body;
  try {
    body = client_->execute(std::move(r), &ctx).body;
  } catch (const http::http_error& e) {
    if (e.status() == 401) explain(e, "");
    // The engine's line says what went wrong (a status and its body, a redirect and where to).
    throw source_error(
        fmt::format("Jira {}: the field list (GET /rest/api/3/field) failed; check source.url: {}",
                    http::scrub_url(site_), e.what()),
        std::make_exception_ptr(e));
  }
  catalogue_ = std::make_unique<jira_catalogue::choice>(
      jira_catalogue::choose(body, options_.fields, http::scrub_url(site_)));
  return *catalogue_;
}

void jira_source::list_ids(const partition_plan& partition, const item_fn& fn, run_context& ctx) {
  // The key comes with every issue; "updated" is the smallest field to ask for.
  http::request first = search_request(initial_jql(partition), "updated");
  http::pagination_guard guard(fmt::format("Jira id listing of {}", partition.label));
  try {
    http::paginate(
        *client_, first, search_paging(), "", guard,
        [&](const http::page& p) {
          for (const auto& key : p.ids) fn("jira:" + escape_key(key));
        },
        &ctx);
  } catch (const http::http_error& e) {
    explain(e, partition.name);
  }
}

void jira_source::fetch(const partition_plan& partition, std::string_view cursor, page_sink& out,
                        run_context& ctx) {
  std::string jql, token, then;  // `then`: the cursor of the search after this one (requery_cursor)
  if (cursor.empty()) {
    jql = initial_jql(partition);
  } else {
    auto nl = cursor.find('\n');
    jql = std::string(cursor.substr(0, nl));
    token = nl == std::string_view::npos ? "" : std::string(cursor.substr(nl + 1));
    if (auto next = token.find('\n'); next != std::string::npos) {
      then = token.substr(next + 1);
      token.resize(next);
    }
  }
  const jira_catalogue::choice& shown = shown_fields(ctx);
  http::request first = search_request(jql, shown.api_fields);
  http::page_spec spec = search_paging();
  std::vector<issue_facts> scanned;  // the page's issues by position, as paginate's walk passes them
  spec.item_members = {"key", "fields"};
  spec.on_member = [&](std::size_t position, std::string_view member, json::walk& w) {
    return scan_issue_member(scanned, position, member, w);
  };
  http::pagination_guard guard(fmt::format("Jira search for {}", partition.label));
  std::vector<issue_facts> parsed;
  // The journaled page's tail (its comment pages, its fields), written into the same memory page
  // after page: a fresh buffer each page would fault in its comment pages' bytes again.
  std::string rest;
  for (int attempt = 0;; ++attempt) try {
      http::paginate(
          *client_, first, spec, token, guard,
          [&](const http::page& p) {
            if (p.root)
              read_issues(*p.root, parsed);  // the walk could not read it: parsed whole
            else
              scanned.resize(static_cast<std::size_t>(p.items));  // issues without a key or fields too
            const std::vector<issue_facts>& issues = p.root ? parsed : scanned;
            bool any_comments = false;
            std::string watermark;
            std::vector<comment_job> comment_jobs;
            issues_read_.fetch_add(static_cast<std::int64_t>(issues.size()), std::memory_order_relaxed);
            for (const issue_facts& issue : issues) {
              std::string updated = jira_time_to_utc(issue.updated);
              if (updated > watermark) watermark = std::move(updated);
              if (issue.total <= static_cast<std::int64_t>(issue.embedded) || issue.key.empty()) continue;
              // More comments than search embeds: read them all, before the page is journaled.
              comment_jobs.push_back({issue.key, issue.embedded, {}, false});
            }
            scanned.clear();
            p.release_root();  // what follows (comment requests, journaling) needs no parse
            read_comments(comment_jobs, first.headers, ctx);
            // The journaled page is {"search": <the response as sent>, "comments": {...}, "fields":
            // {...}}, handed over in parts around the response, which is never copied.
            std::size_t size = shown.page_fields.size() + 32;
            for (const auto& job : comment_jobs) size += job.key.size() + job.pages.size() + 8;
            rest.clear();
            if (rest.capacity() < size) rest.reserve(size + size / 4);  // room for the next pages' spread
            rest += ",\"comments\":{";
            for (auto& job : comment_jobs) {
              if (job.unreadable) continue;
              rest += any_comments ? "," : "";
              json::append_string(rest, job.key);
              rest.append(":[").append(job.pages).append("]");
              any_comments = true;
            }
            rest.append("},\"fields\":").append(shown.page_fields).append("}");  // what the page shows, named
            const std::string_view parts[] = {"{\"search\":", p.resp.body, rest};
            std::string next = p.next_cursor.empty() ? then
                               : then.empty()        ? jql + "\n" + p.next_cursor
                                                     : jql + "\n" + p.next_cursor + "\n" + then;
            out.page_parts(parts, p.items, next, watermark);
            ctx.checkpoint();
          },
          &ctx);
      break;
    } catch (const http::http_error& e) {
      bool expired = e.status() == 400 && !token.empty() && attempt == 0 &&
                     e.body_excerpt().find("page token") != std::string::npos;
      if (!expired) explain(e, partition.name);
      // nextPageToken lives 7 days: an older resume starts the partition's search again. Pages already
      // journaled are read again; ingest keeps one version of each issue.
      logger()->warn(
          "Jira {}: the saved page token of {} expired; searching the partition again from its start",
          http::scrub_url(site_), partition.label);
      token.clear();
      guard = http::pagination_guard(fmt::format("Jira search for {}", partition.label));
    }
  if (!then.empty()) fetch(partition, then, out, ctx);
}

}  // namespace backfill
