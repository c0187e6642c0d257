// GitHub source, the HTTP side: a repository's phases (issues, issue comments, review comments), each
// a Link-paginated list journaled page by page, the reviews and pull requests an issues page needs,
// the id listing of reconcile. Cursors and the ETags they carry: cursor.hpp.
#include <deque>
#include <functional>
#include <utility>

#include <fmt/format.h>
#include <simdjson.h>

#include "backfill/core/errors.hpp"
#include "backfill/core/json.hpp"
#include "backfill/core/json_items.hpp"
#include "backfill/core/log.hpp"
#include "backfill/core/padded_json.hpp"
#include "backfill/http/scrub.hpp"
#include "backfill/sources/github/github.hpp"
#include "sources/github/cursor.hpp"
#include "sources/github/rate.hpp"
#include "sources/github/time.hpp"

namespace backfill {
namespace {

using simdjson::dom::element;

http::page_spec link_spec(std::string id_field) {
  http::page_spec spec;
  spec.paging = http::page_spec::kind::link;
  spec.items = "";
  spec.id_field = std::move(id_field);
  return spec;
}

element parse_body(simdjson::dom::parser& parser, const std::string& body, std::string_view what) {
  element root;
  if (const auto err = json::parse_padded(parser, body, root))
    throw source_error(fmt::format("{} is not valid JSON: {}", what, simdjson::error_message(err)));
  return root;
}

std::string number_of(element item) {
  std::int64_t n = 0;
  return item["number"].get(n) ? std::string() : std::to_string(n);
}

}  // namespace

void github_source::fetch(const partition_plan& partition, std::string_view cursor, page_sink& out,
                          run_context& ctx) {
  {
    std::lock_guard lock(missing_mu_);
    if (missing_.count(partition.name))
      throw source_error(
          fmt::format("GitHub {}: repository '{}' was not found (404): check source.repos "
                      "(owner/name) and that the token can read it",
                      http::scrub_url(api_), partition.name));
  }
  std::vector<std::string> phases = {"issues"};
  if (includes("issue_comments")) phases.push_back("issue_comments");
  if (includes("review_comments") && includes("pulls")) phases.push_back("review_comments");
  std::string phase = phases.front(), since = github_time::since_param(options_.since), url;
  github_detail::known k;
  if (!cursor.empty()) {
    const auto a = cursor.find('\n');
    const auto b = a == std::string_view::npos ? a : cursor.find('\n', a + 1);
    if (b == std::string_view::npos)
      throw source_error(
          fmt::format("GitHub {}: the saved cursor is not one this source writes; fetch it "
                      "again with --refetch {}",
                      partition.name, partition.name));
    phase = std::string(cursor.substr(0, a));
    since = std::string(cursor.substr(a + 1, b - a - 1));
    const auto c = cursor.find('\n', b + 1);
    url = std::string(cursor.substr(b + 1, c == std::string_view::npos ? c : c - b - 1));
    if (c != std::string_view::npos) k = github_detail::known::parse(cursor.substr(c + 1));
  }
  auto at = std::find(phases.begin(), phases.end(), phase);
  for (; at != phases.end(); ++at) {
    const std::string next = at + 1 == phases.end() ? std::string() : *(at + 1);
    fetch_phase(partition, *at, since, url, next, k, out, ctx);
    url.clear();
  }
}

void github_source::fetch_phase(const partition_plan& partition, const std::string& phase,
                                const std::string& since, const std::string& url,
                                const std::string& next_phase, github_detail::known& k, page_sink& out,
                                run_context& ctx) {
  const int index = github_detail::phase_index(phase);
  http::request first = get(phase_url(partition.name, phase, since));
  // The phase's first page as last read: unchanged (304, free against the primary limit), nothing in
  // the phase changed, since lists are newest first.
  if (url.empty() && !k.etags[index].empty()) first.headers.push_back({"If-None-Match", k.etags[index]});
  // Newest first, so an item updated while the list is read may come again on a later page: the
  // guard checks cursors and bodies, and normalize merges repeats by id.
  http::page_spec spec = link_spec("");
  // A comment listing is journaled as it came, so paging only counts its items (a walk over the
  // page's index); an issues page is parsed whole and read below from that parse.
  spec.scan = phase != "issues";
  http::pagination_guard guard(fmt::format("GitHub {} of {}", phase, partition.name));
  simdjson::dom::parser parser;
  rate_->pace(ctx);
  try {
    http::paginate(
        *client_, first, spec, url, guard,
        [&](const http::page& p) {
          const bool unchanged = p.resp.status == 304;
          if (p.cursor.empty() && !unchanged) {
            const std::string* etag = p.resp.find("etag");
            k.set_etag(index, etag ? *etag : "");
          }
          std::string body = "{\"kind\":";
          json::append_string(body, phase);
          body += ",\"repo\":";
          json::append_string(body, partition.name);
          // A 304 is journaled as an empty page, so the cursor and the ETags move the usual way.
          body += unchanged ? ",\"not_modified\":true,\"body\":[]" : ",\"body\":" + p.resp.body;
          std::string watermark;
          if (phase == "issues" && !unchanged) {
            // One parse of the page: its latest update, and its pull requests (their numbers, and
            // whether the issue lacks merged_at, so /pulls/{n} must say).
            std::vector<std::pair<std::string, bool>> prs;
            simdjson::dom::array items;
            const element root = p.root ? *p.root : parse_body(parser, p.json, "a GitHub issues page");
            if (!root.get(items))
              for (element item : items) {
                std::string_view updated;
                if (!item["updated_at"].get(updated) && updated > watermark) watermark = std::string(updated);
                element pr, merged;
                if (item["pull_request"].get(pr) || !pr.is_object()) continue;
                if (std::string n = number_of(item); !n.empty())
                  prs.emplace_back(std::move(n), pr["merged_at"].get(merged) != simdjson::SUCCESS);
              }
            k.saw(watermark);
            p.release_root();  // the pull requests' requests need no parse of the page
            body += pull_extras(partition.name, prs, parser, ctx);
          }
          body += "}";
          const std::string state = "\n" + k.text();
          std::string next = !p.next_cursor.empty() ? phase + "\n" + since + "\n" + p.next_cursor + state
                             : next_phase.empty()   ? std::string()
                                                    : next_phase + "\n" + since + "\n" + state;
          // The partition's last page leaves the ETags with the ledger, as the watermark.
          if (next.empty()) watermark = k.text();
          out.page(body, p.items, next, watermark);
          ctx.checkpoint();
          rate_->pace(ctx);  // before the request after the one already in flight
        },
        &ctx);
  } catch (const http::http_error& e) {
    explain(e, partition.name);
  }
}

std::string github_source::pull_extras(std::string_view repo,
                                       const std::vector<std::pair<std::string, bool>>& prs,
                                       simdjson::dom::parser& parser, run_context& ctx) {
  if (!includes("pulls")) return {};
  std::string pulls, reviews;
  std::string unreadable;  // pull requests whose reviews or details cannot be read, and why
  auto cannot_read = [&](const std::string& n, std::string_view why) {
    unreadable += unreadable.empty() ? "" : ",";
    json::append_string(unreadable, n);
    unreadable += ':';
    json::append_string(unreadable, why);
  };
  // Each pull request's requests (its details where the issue lacks them, its first page of reviews)
  // are sent ahead of the one being read, up to the client's cap on requests in flight: the round
  // trips overlap, and the engine's thread and this one wake once per burst instead of once per
  // request. Requests sent ahead that nobody reads (a fatal error, a stop) are cancelled.
  const bool with_reviews = includes("reviews");
  const http::page_spec reviews_spec = link_spec("id");
  auto reviews_url = [&](const std::string& n) {
    return get(repo_url(repo, "/pulls/" + n + "/reviews?per_page=100"));
  };
  struct sent {
    http::client::handle details, reviews;
  };
  std::deque<sent> ahead;
  std::size_t next = 0;
  auto drop = [&](const sent& s) {
    if (s.details) client_->cancel(s.details);
    if (s.reviews) client_->cancel(s.reviews);
  };
  struct cancel_ahead {
    std::deque<sent>& q;
    const std::function<void(const sent&)> drop;
    ~cancel_ahead() {
      for (const auto& s : q) drop(s);
    }
  } on_exit{ahead, drop};
  const std::size_t window = static_cast<std::size_t>(std::max(1, options_.max_in_flight));
  for (std::size_t i = 0; i < prs.size(); ++i) {
    for (; next < prs.size() && next < i + window; ++next) {
      sent& s = ahead.emplace_back();  // in the queue before anything is sent, so a stop cancels it
      if (prs[next].second) {
        rate_->pace(ctx);
        s.details = client_->submit(get(repo_url(repo, "/pulls/" + prs[next].first)));
      }
      if (with_reviews) {
        rate_->pace(ctx);
        s.reviews = client_->submit(http::page_request(reviews_url(prs[next].first), reviews_spec, ""));
      }
    }
    const std::string& n = prs[i].first;
    sent mine = std::move(ahead.front());
    ahead.pop_front();
    try {
      if (mine.details) {
        // An issue without pull_request.merged_at (older servers): the pull request says.
        http::response r = client_->wait(std::exchange(mine.details, nullptr), &ctx);
        element ignored;
        if (json::parse_padded(parser, r.body, ignored)) {
          cannot_read(n, "the pull request (/pulls/" + n + ") cannot be read as JSON");
        } else {
          pulls += pulls.empty() ? "" : ",";
          json::append_string(pulls, n);
          pulls += ":" + r.body;
        }
      }
      if (mine.reviews) {
        std::string pages;
        bool mended = false;
        http::pagination_guard guard(fmt::format("GitHub reviews of {}#{}", repo, n));
        http::paginate(
            *client_, reviews_url(n), reviews_spec, "", guard,
            [&](const http::page& p) {
              pages += pages.empty() ? "" : ",";
              pages += p.json;  // a review that cannot be read is null there
              mended = mended || &p.json != &p.resp.body;
              rate_->pace(ctx);
            },
            &ctx, std::exchange(mine.reviews, nullptr));
        reviews += reviews.empty() ? "" : ",";
        json::append_string(reviews, n);
        reviews += ":[" + pages + "]";
        if (mended)
          cannot_read(
              n, "some of its reviews cannot be read (invalid UTF-8, a lone surrogate or nesting too deep)");
      }
    } catch (const http::http_error& e) {
      drop(mine);
      if (e.status() != 404 && e.status() != 410) throw;
      // Gone between the list and now (deleted, or moved): the issue's own fields are kept.
      logger()->warn("GitHub {}#{}: the pull request cannot be read ({}); keeping what the issue list says",
                     repo, n, e.status());
    }
  }
  std::string out = ",\"pulls\":{" + pulls + "},\"reviews\":{" + reviews + "}";
  if (!unreadable.empty()) out += ",\"unreadable\":{" + unreadable + "}";
  return out;
}

void github_source::list_ids(const partition_plan& partition, const item_fn& fn, run_context& ctx) {
  {
    std::lock_guard lock(missing_mu_);
    if (missing_.count(partition.name)) return;
  }
  http::pagination_guard guard(fmt::format("GitHub id listing of {}", partition.name));
  simdjson::dom::parser parser;
  const std::string since = github_time::since_param(options_.since);
  rate_->pace(ctx);
  try {
    http::paginate(
        *client_, get(phase_url(partition.name, "issues", since)), link_spec(""), "", guard,
        [&](const http::page& p) {
          simdjson::dom::array items;
          const element root = p.root ? *p.root : parse_body(parser, p.json, "a GitHub issues page");
          if (root.get(items)) return;
          for (element item : items) {
            const bool is_pull = item["pull_request"].error() == simdjson::SUCCESS;
            const std::string n = number_of(item);
            if (!n.empty() && includes(is_pull ? "pulls" : "issues"))
              fn(fmt::format("github:{}#{}", escape_key(partition.name), n));
          }
          rate_->pace(ctx);
        },
        &ctx);
  } catch (const http::http_error& e) {
    explain(e, partition.name);
  }
}

json::item_layout github_source::journal_items(std::string_view) const {
  json::item_layout layout{"/body", "", ""};
  layout.name = [](std::string_view page, std::string_view item) {
    const std::string kind = json::raw_member(page, "kind");
    const std::string prefix = "github:" + escape_key(json::raw_member(page, "repo"));
    const std::string id = json::raw_member(item, kind == "issues" ? "number" : "id");
    if (id.empty()) return id;
    return kind == "issues" ? prefix + "#" + id : fmt::format("{}/{}/{}", prefix, kind, id);
  };
  return layout;
}

void github_source::page_items(std::string_view, const std::string& body, const item_fn& fn) {
  // The page's parse made by the check that read it (json::readable), when it handed one over.
  element root;
  if (const auto err = json::parse_page(body, root))
    throw source_error(
        fmt::format("a journaled GitHub page is not valid JSON: {}", simdjson::error_message(err)));
  std::string_view kind, repo;
  simdjson::dom::array items;
  if (root["kind"].get(kind) || root["repo"].get(repo) || root["body"].get(items))
    throw source_error("a journaled GitHub page has no kind, repo or body list");
  const std::string prefix = "github:" + escape_key(repo);
  for (element item : items) {
    if (kind == "issues") {
      const std::string n = number_of(item);
      if (!n.empty()) fn(prefix + "#" + n);
      continue;
    }
    std::int64_t id = 0;
    if (!item["id"].get(id)) fn(fmt::format("{}/{}/{}", prefix, kind, id));
  }
}

}  // namespace backfill
