// GitHub source: options, the HTTP client (headers, limits, the rate-limit hook), the URLs of each phase
// and the errors a person can act on. The plan is in plan.cpp, the fetch in fetch.cpp, the documents
// in normalize.cpp.
#include "backfill/sources/github/github.hpp"

#include <algorithm>
#include <cctype>

#include <fmt/format.h>

#include "backfill/core/errors.hpp"
#include "backfill/http/scrub.hpp"
#include "backfill/http/url.hpp"
#include "sources/github/cursor.hpp"
#include "sources/github/rate.hpp"
#include "sources/github/time.hpp"

namespace backfill {
namespace {

constexpr std::string_view kinds[] = {"issues", "pulls", "issue_comments", "review_comments", "reviews"};

bool valid_repo(std::string_view r) {
  const auto slash = r.find('/');
  if (slash == std::string_view::npos || slash == 0 || slash + 1 == r.size()) return false;
  if (r.find('/', slash + 1) != std::string_view::npos) return false;
  return std::all_of(r.begin(), r.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.' || c == '/' ||
           c == '*';
  });
}

}  // namespace

github_source::github_source(github_options options) : options_(std::move(options)) {
  if (options_.token.empty())
    throw config_error("source.token is required (set it from the environment: token = \"${GITHUB_TOKEN}\")");
  if (options_.repos.empty())
    throw config_error(
        "source.repos is required: the repositories to backfill, as \"owner/name\" or \"owner/*\"");
  for (const auto& r : options_.repos) {
    if (!valid_repo(r) || (r.find('*') != std::string::npos && r.substr(r.find('/')) != "/*"))
      throw config_error(fmt::format("source.repos: '{}' is not \"owner/name\" or \"owner/*\"", r));
  }
  for (const auto& k : options_.include)
    if (std::find(std::begin(kinds), std::end(kinds), k) == std::end(kinds))
      throw config_error(fmt::format(
          "source.include: '{}' is not one of issues, pulls, issue_comments, review_comments, reviews", k));
  if (!includes("issues") && !includes("pulls"))
    throw config_error("source.include must name issues or pulls (or both): they are the documents");
  if (options_.state != "all" && options_.state != "open" && options_.state != "closed")
    throw config_error(fmt::format("source.state must be all, open or closed, got '{}'", options_.state));
  if (options_.per_page < 1 || options_.per_page > 100)
    throw config_error(fmt::format("source.per_page must be between 1 and 100, got {}", options_.per_page));
  if (!options_.since.empty() && github_time::since_param(options_.since).empty())
    throw config_error(fmt::format("source.since must look like 2024-01-31 or 2024-01-31T12:00:00Z, got '{}'",
                                   options_.since));
  if (options_.reserve < 0) throw config_error("source.reserve must be 0 or more");
  api_ = options_.base_url;
  while (!api_.empty() && api_.back() == '/') api_.pop_back();
  if (api_.rfind("http://", 0) != 0 && api_.rfind("https://", 0) != 0)
    throw config_error(fmt::format(
        "source.base_url must be an http(s) URL (https://api.github.com, or https://HOST/api/v3 for "
        "GitHub Enterprise Server), got '{}'",
        http::scrub_url(api_)));
  auth_ = "Bearer " + options_.token;
  rate_ = std::make_unique<github_detail::rate_governor>(options_.reserve);
  http::client_options o;
  o.service = "GitHub";
  o.timeout = options_.timeout;
  o.verify_tls = options_.verify_tls;
  o.secrets = {options_.token};
  o.default_limit = {options_.rate, std::max(1.0, options_.rate / 2), std::max(1, options_.max_in_flight)};
  // A primary limit spent by someone else sharing the token resets within the hour: wait for it.
  o.retry.max_elapsed = 3900;
  o.retry.max_attempts = 10;
  // GitHub answers 301 for a renamed or transferred repository; the engine follows it on the same host
  // only (credentials never leave the configured host).
  o.max_redirects = 3;
  o.classify = [r = rate_.get()](const http::response& resp) { return r->classify(resp); };
  client_ = std::make_unique<http::client>(std::move(o));
}

github_source::~github_source() = default;

bool github_source::includes(std::string_view what) const {
  return std::find(options_.include.begin(), options_.include.end(), what) != options_.include.end();
}

std::string github_source::describe() const {
  std::string what;
  for (std::size_t i = 0; i < options_.repos.size(); ++i) what += (i ? ", " : "") + options_.repos[i];
  return fmt::format("GitHub {} ({})", http::scrub_url(api_), what);
}

http::request github_source::get(std::string url) const {
  http::request r;
  r.url = std::move(url);
  r.headers = {{"Authorization", auth_},
               {"Accept", "application/vnd.github+json"},
               {"X-GitHub-Api-Version", options_.api_version}};
  return r;
}

std::string github_source::repo_url(std::string_view repo, std::string_view tail) const {
  const auto slash = repo.find('/');
  return fmt::format("{}/repos/{}/{}{}", api_, http::url_encode(repo.substr(0, slash)),
                     http::url_encode(repo.substr(slash + 1)), tail);
}

std::string github_source::phase_url(std::string_view repo, std::string_view phase,
                                     std::string_view since) const {
  std::string url = repo_url(repo, phase == "issues"           ? "/issues"
                                   : phase == "issue_comments" ? "/issues/comments"
                                                               : "/pulls/comments");
  if (phase == "issues") url = http::with_query(url, "state", options_.state);
  url = http::with_query(url, "sort", "updated");
  url = http::with_query(url, "direction", "desc");
  if (!since.empty()) url = http::with_query(url, "since", since);
  return http::with_query(url, "per_page", std::to_string(options_.per_page));
}

std::string github_source::reopen_cursor(const partition_plan&, std::string_view watermark) {
  const auto k = github_detail::known::parse(watermark);
  const std::string since = github_time::minus_minutes(k.updated, options_.overlap_minutes);
  return "issues\n" + (since.empty() ? github_time::since_param(options_.since) : since) + "\n\n" + k.text();
}

std::string github_source::describe_watermark(std::string_view watermark) const {
  const std::string updated = github_detail::known::parse(watermark).updated;
  return updated.empty() ? updated : updated + " (the latest issue update seen)";
}

void github_source::explain(const http::http_error& e, std::string_view what) const {
  const std::string site = http::scrub_url(api_);
  const std::exception_ptr cause = std::make_exception_ptr(e);
  switch (e.status()) {
    case 401:
      throw source_error(fmt::format("GitHub {} rejected the token (401 Bad credentials): check source.token "
                                     "(a classic or fine-grained token, not expired)",
                                     site),
                         cause);
    case 403:
      throw source_error(
          fmt::format("GitHub {}: no permission to read {} (403): {}; a fine-grained token needs "
                      "Issues (read) and Pull requests (read) on it",
                      site, what, e.body_excerpt()),
          cause);
    case 404:
      throw source_error(fmt::format("GitHub {}: repository '{}' was not found (404): check source.repos "
                                     "(owner/name) and that the token can read it",
                                     site, what),
                         cause);
    default: throw;
  }
}

}  // namespace backfill
