// GitHub source, the plan: the repositories ("owner/*" expanded, each checked) and, for `backfill plan`
// (estimate), what a full fetch of each reads: issues and pull requests, comments and review comments counted
// from one-item list pages (the Link header's last page is the count; a request each), pages and requests,
// and the time they take at the rate limit as the last response states it (rate.hpp).
#include <algorithm>
#include <set>

#include <fmt/format.h>
#include <simdjson.h>

#include "backfill/core/errors.hpp"
#include "backfill/core/log.hpp"
#include "backfill/http/scrub.hpp"
#include "backfill/http/url.hpp"
#include "backfill/sources/github/github.hpp"
#include "sources/github/rate.hpp"
#include "sources/github/time.hpp"

namespace backfill {
namespace {

std::int64_t pages_of(std::int64_t items, int per_page) {
  return std::max<std::int64_t>(1, (items + per_page - 1) / per_page);
}

// The value of `page` in a URL's query, or -1.
std::int64_t page_param(std::string_view url) {
  for (std::string_view key : {"?page=", "&page="})
    if (const auto at = url.find(key); at != std::string_view::npos) {
      std::int64_t n = 0;
      for (auto i = at + key.size(); i < url.size() && url[i] >= '0' && url[i] <= '9'; ++i)
        n = n * 10 + (url[i] - '0');
      return n;
    }
  return -1;
}

std::string duration(double seconds) {
  if (seconds < 90) return fmt::format("{:.0f} s", seconds);
  if (seconds < 5400) return fmt::format("{:.0f} min", seconds / 60);
  return fmt::format("{:.1f} h", seconds / 3600);
}

}  // namespace

std::int64_t github_source::count(const std::string& url, run_context& ctx) {
  rate_->pace(ctx);
  http::response r = client_->execute(get(http::with_query(url, "per_page", "1")), &ctx);
  if (const std::string* link = r.find("link"))
    if (auto last = http::link_rel(*link, "last"); last && page_param(*last) > 0) return page_param(*last);
  simdjson::dom::parser parser;
  simdjson::dom::array items;
  return parser.parse(r.body).get(items) ? 0 : static_cast<std::int64_t>(items.size());
}

void github_source::estimate(std::vector<partition_plan>& repos, run_context& ctx) {
  const std::string since = github_time::since_param(options_.since);
  const bool pulls = includes("pulls");
  std::int64_t all_requests = 0;
  std::int64_t counted = 0;
  std::int64_t passed = 0;
  for (auto& p : repos) {
    ctx.step(p.label.empty() ? p.name : p.label, passed++);
    {
      std::lock_guard lock(missing_mu_);
      if (missing_.count(p.name)) continue;
    }
    ++counted;
    auto listing = [&](std::string_view phase) { return phase_url(p.name, phase, since); };
    try {
      const std::int64_t items = count(listing("issues"), ctx);
      const std::int64_t prs =
          pulls ? count(http::with_query(repo_url(p.name, "/pulls"), "state", options_.state), ctx) : 0;
      const std::int64_t comments = includes("issue_comments") ? count(listing("issue_comments"), ctx) : 0;
      const std::int64_t review_comments =
          includes("review_comments") && pulls ? count(listing("review_comments"), ctx) : 0;
      p.estimated_items = (includes("issues") ? items - prs : 0) + prs;
      p.estimated_documents = p.estimated_items;  // each issue and pull request is one
      p.estimated_pages =
          pages_of(items, options_.per_page) +
          (includes("issue_comments") ? pages_of(comments, options_.per_page) : 0) +
          (includes("review_comments") && pulls ? pages_of(review_comments, options_.per_page) : 0);
      // Reviews are read per pull request (one page each, 100 reviews).
      p.estimated_requests = p.estimated_pages + (includes("reviews") ? prs : 0);
      p.estimated_seconds = rate_->seconds_for(p.estimated_requests, options_.rate);
      all_requests += p.estimated_requests;
      std::int64_t open = -1;
      {
        std::lock_guard lock(missing_mu_);
        if (auto o = open_.find(p.name); o != open_.end()) open = o->second;
      }
      logger()->info(
          "GitHub {}: {} issues and {} pull requests{}{}, {} comments, {} review comments: about {} "
          "requests, "
          "{} at the current rate limit",
          p.name, items - prs, prs, since.empty() ? "" : " updated since " + since,
          open < 0 ? "" : fmt::format(" ({} open)", open), comments, review_comments, p.estimated_requests,
          duration(p.estimated_seconds));
    } catch (const http::http_error& e) {
      explain(e, p.name);
    }
  }
  if (counted < 2) return;
  const github_detail::budget b = rate_->last();
  logger()->info("GitHub: {} repositories, about {} requests in all: {} at the current rate limit{}", counted,
                 all_requests, duration(rate_->seconds_for(all_requests, options_.rate)),
                 b.limit > 0 ? fmt::format(" ({} of {} left until {})", b.remaining, b.limit,
                                           github_detail::utc_clock(b.reset))
                             : "");
}

std::vector<std::string> github_source::expand_owner(const std::string& owner, run_context& ctx) {
  std::vector<std::string> names;
  http::page_spec spec;
  spec.paging = http::page_spec::kind::link;
  spec.items = "";
  spec.id_field = "id";
  auto list = [&](const std::string& base) {
    http::pagination_guard guard(fmt::format("GitHub repositories of {}", owner));
    simdjson::dom::parser parser;
    http::request first =
        get(http::with_query(base + "/" + http::url_encode(owner) + "/repos", "per_page", "100"));
    rate_->pace(ctx);
    http::paginate(
        *client_, first, spec, "", guard,
        [&](const http::page& p) {
          rate_->pace(ctx);
          simdjson::dom::array repos;
          if (parser.parse(p.resp.body).get(repos)) return;
          for (simdjson::dom::element repo : repos) {
            std::string_view name;
            bool archived = false;
            if (repo["full_name"].get(name)) continue;
            if (!repo["archived"].get(archived) && archived && !options_.include_archived) continue;
            names.emplace_back(name);
            if (std::int64_t n = 0; !repo["open_issues_count"].get(n)) {
              std::lock_guard lock(missing_mu_);
              open_[names.back()] = n;
            }
          }
        },
        &ctx);
  };
  try {
    list(api_ + "/orgs");
  } catch (const http::http_error& e) {
    if (e.status() != 404) explain(e, owner + "/*");
    try {
      list(api_ + "/users");  // not an organization: a user
    } catch (const http::http_error& e2) {
      if (e2.status() != 404) explain(e2, owner + "/*");
      throw source_error(
          fmt::format("GitHub {}: source.repos names '{}/*', but there is no organization or user "
                      "'{}' (404): check the owner's name",
                      http::scrub_url(api_), owner, owner),
          std::make_exception_ptr(e2));
    }
  }
  if (names.empty()) logger()->warn("GitHub: '{}/*' has no repositories the token can read", owner);
  return names;
}

std::vector<partition_plan> github_source::plan(run_context& ctx) {
  std::vector<partition_plan> found, missing;
  std::set<std::string> seen;
  auto add = [&](const std::string& name) {
    if (seen.insert(name).second) found.push_back({name, name, -1, -1});
  };
  for (const auto& entry : options_.repos) {
    if (entry.size() > 2 && entry.compare(entry.size() - 2, 2, "/*") == 0) {
      for (const auto& name : expand_owner(entry.substr(0, entry.size() - 2), ctx)) add(name);
      continue;
    }
    rate_->pace(ctx);
    try {
      http::response r = client_->execute(get(repo_url(entry, "")), &ctx);
      simdjson::dom::parser parser;
      std::string_view name;
      simdjson::dom::element repo;
      if (!parser.parse(r.body).get(repo) && !repo["full_name"].get(name)) {
        add(std::string(name));
        if (std::int64_t n = 0; !repo["open_issues_count"].get(n)) {
          std::lock_guard lock(missing_mu_);
          open_[std::string(name)] = n;
        }
      } else {
        add(entry);
      }
    } catch (const http::http_error& e) {
      if (e.status() != 404) explain(e, entry);
      logger()->error("GitHub {}: repository '{}' was not found (404); the other repositories go on",
                      http::scrub_url(api_), entry);
      std::lock_guard lock(missing_mu_);
      missing_.insert(entry);
      if (seen.insert(entry).second) missing.push_back({entry, entry, 0, 0});
    }
  }
  // Repositories that do not exist come last, so every other one is fetched before the run fails on them.
  found.insert(found.end(), missing.begin(), missing.end());
  return found;
}

}  // namespace backfill
