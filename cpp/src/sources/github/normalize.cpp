// GitHub normalization: the journal pages of one repository (issues pages with their pull requests'
// reviews, issue comment pages, review comment pages) become one document per issue or pull request:
// its fields and body, then every comment, review comment and review in order of creation. Items
// listed more than once (a later run, or a list that moved while it was read) keep their latest
// version by `updated_at`.
#include <algorithm>
#include <charconv>
#include <map>
#include <string>
#include <unordered_map>
#include <vector>

#include <fmt/format.h>
#include <simdjson.h>

#include "backfill/core/errors.hpp"
#include "backfill/core/padded_json.hpp"
#include "backfill/sources/github/github.hpp"

namespace backfill {
namespace {

using simdjson::dom::element;

std::string_view str(element e, std::string_view key) {
  std::string_view s;
  if (e[key].get(s)) return {};
  return s;
}

std::string_view str_at(element e, std::string_view pointer) {
  std::string_view s;
  if (e.at_pointer(pointer).get(s)) return {};
  return s;
}

// The number at the end of an API URL (".../issues/123", ".../pulls/123").
std::string_view trailing_number(std::string_view url) {
  const auto slash = url.rfind('/');
  return slash == std::string_view::npos ? std::string_view() : url.substr(slash + 1);
}

struct item {
  bool pull = false;
  std::string title, state, state_reason, url, author, body, milestone, created, updated, closed, merged_at;
  std::vector<std::string> labels, assignees;
  bool draft = false, merged = false;
};

struct note {
  int kind = 0;  // 0 comment, 1 review comment, 2 review
  std::int64_t id = 0;
  std::int64_t number = 0;  // of the issue or pull request it is on
  std::string author, created, updated, text, path, line, verb;
};

std::vector<std::string> names(element e, std::string_view key, std::string_view field) {
  std::vector<std::string> out;
  simdjson::dom::array arr;
  if (e[key].get(arr)) return out;
  for (element x : arr)
    if (auto s = str(x, field); !s.empty()) out.emplace_back(s);
  return out;
}

item read_item(element e) {
  item it;
  element pr;
  it.pull = !e["pull_request"].get(pr) && pr.is_object();
  it.title = str(e, "title");
  it.state = str(e, "state");
  it.state_reason = str(e, "state_reason");
  it.url = str(e, "html_url");
  it.author = str_at(e, "/user/login");
  it.body = str(e, "body");
  it.milestone = str_at(e, "/milestone/title");
  it.created = str(e, "created_at");
  it.updated = str(e, "updated_at");
  it.closed = str(e, "closed_at");
  it.labels = names(e, "labels", "name");
  it.assignees = names(e, "assignees", "login");
  if (bool d = false; !e["draft"].get(d)) it.draft = d;
  if (it.pull) {
    it.merged_at = str(pr, "merged_at");
    it.merged = !it.merged_at.empty();
  }
  return it;
}

note read_note(element e, int kind) {
  note n;
  n.kind = kind;
  if (e["id"].get(n.id)) n.id = 0;
  n.author = str_at(e, "/user/login");
  n.text = str(e, "body");
  if (kind == 2) {
    n.created = n.updated = str(e, "submitted_at");
    const std::string_view state = str(e, "state");
    n.verb = state == "APPROVED"            ? "approved"
             : state == "CHANGES_REQUESTED" ? "requested changes"
             : state == "DISMISSED"         ? "reviewed (dismissed)"
             : state == "PENDING"           ? ""
                                            : "reviewed";
    return n;
  }
  n.created = str(e, "created_at");
  n.updated = str(e, "updated_at");
  if (kind == 1) {
    n.path = str(e, "path");
    std::int64_t line = 0;
    if (!e["line"].get(line) || !e["original_line"].get(line)) n.line = std::to_string(line);
  }
  return n;
}

void append_list(std::string& out, std::string_view label, const std::vector<std::string>& xs) {
  if (xs.empty()) return;
  out += label;
  for (std::size_t i = 0; i < xs.size(); ++i) {
    out += i ? ", " : "";
    out += xs[i];
  }
  out += '\n';
}

}  // namespace

void normalize_github_repo(std::string_view repo, page_reader& pages, const std::vector<std::string>& include,
                           const document_fn& emit, run_context* ctx) {
  auto has = [&](std::string_view k) {
    return std::find(include.begin(), include.end(), k) != include.end();
  };
  std::map<std::int64_t, item> items;                                    // by number
  std::unordered_map<std::int64_t, note> by_id[3];                       // by kind, then id
  std::unordered_map<std::int64_t, std::pair<bool, std::string>> pulls;  // merged, merged_at from /pulls/{n}
  // Keeps the latest version of each note.
  auto keep = [&](std::string_view number, note&& n) {
    if (std::from_chars(number.data(), number.data() + number.size(), n.number).ec != std::errc()) return;
    auto [at, fresh] = by_id[n.kind].try_emplace(n.id);
    if (fresh || n.updated >= at->second.updated) at->second = std::move(n);
  };
  pages.for_each([&](std::int64_t, const std::string& body, const std::string& path) {
    // Nothing below outlives the page: items and notes are copied out of its parse, so the thread's
    // page parser serves, and the parse that the page's check handed over is taken, not made again.
    element root;
    if (const auto err = json::parse_page(body, root))
      throw source_error(fmt::format("{} is not valid JSON: {}", path, simdjson::error_message(err)));
    std::string_view kind;
    simdjson::dom::array list;
    if (root["kind"].get(kind) || root["body"].get(list))
      throw source_error(fmt::format("{} is not a GitHub journal page (no kind or body list)", path));
    simdjson::dom::object unreadable;
    const bool some_unreadable = kind == "issues" && !root["unreadable"].get(unreadable);
    std::size_t position = 0;
    for (element e : list) {
      const std::size_t at_position = position++;
      if (kind == "issues") {
        std::int64_t n = 0;
        if (e["number"].get(n)) continue;
        if (std::string_view why; some_unreadable && !unreadable[std::to_string(n)].get(why)) {
          // Whole or not at all: without its reviews the pull request waits in quarantine.
          pages.skip_item(at_position, fmt::format("github:{}#{}", escape_key(repo), n), std::string(why));
          continue;
        }
        item it = read_item(e);
        auto [at, fresh] = items.try_emplace(n);
        if (fresh || it.updated >= at->second.updated) at->second = std::move(it);
      } else if (kind == "issue_comments" && has("issue_comments")) {
        keep(trailing_number(str(e, "issue_url")), read_note(e, 0));
      } else if (kind == "review_comments" && has("review_comments")) {
        keep(trailing_number(str(e, "pull_request_url")), read_note(e, 1));
      }
    }
    if (kind != "issues") return;
    simdjson::dom::object extra;
    if (!root["pulls"].get(extra))
      for (auto [number, pr] : extra) {
        bool merged = false;
        if (pr["merged"].get(merged)) merged = !str(pr, "merged_at").empty();
        std::int64_t n = 0;
        if (std::from_chars(number.data(), number.data() + number.size(), n).ec == std::errc())
          pulls[n] = {merged, std::string(str(pr, "merged_at"))};
      }
    if (has("reviews") && !root["reviews"].get(extra))
      for (auto [number, review_pages] : extra) {
        simdjson::dom::array pages_of;
        if (review_pages.get(pages_of)) continue;
        for (element page : pages_of) {
          simdjson::dom::array reviews;
          if (page.get(reviews)) continue;
          for (element r : reviews) {
            note n = read_note(r, 2);
            if (!n.verb.empty() && !(n.verb == "reviewed" && n.text.empty())) keep(number, std::move(n));
          }
        }
      }
    if (ctx) ctx->checkpoint();
  });

  std::unordered_map<std::int64_t, std::vector<const note*>> notes;  // by issue number
  for (const auto& kind : by_id)
    for (const auto& [id, n] : kind) notes[n.number].push_back(&n);
  const std::string prefix = "github:" + escape_key(repo);
  std::string rendered;
  for (auto& [number, it] : items) {
    if (!has(it.pull ? "pulls" : "issues")) continue;
    if (auto p = pulls.find(number); p != pulls.end()) {
      it.merged = p->second.first;
      if (it.merged_at.empty()) it.merged_at = p->second.second;
    }
    document d;
    d.id = prefix + "#" + std::to_string(number);
    d.source = "github";
    d.partition = std::string(repo);
    d.title = fmt::format("{}#{}: {}", repo, number, it.title);
    d.url = it.url;
    d.created_at = it.created;
    d.updated_at = it.updated;
    std::string& t = d.text;
    t = it.title + "\n";
    t += it.pull ? "Pull request" : "Issue";
    t += " · " + it.state;
    if (!it.state_reason.empty() && it.state_reason != "reopened") t += " (" + it.state_reason + ")";
    if (it.pull && it.merged) t += " · merged";
    if (it.draft) t += " · draft";
    t += '\n';
    if (!it.author.empty()) t += "Author: " + it.author + "\n";
    append_list(t, "Labels: ", it.labels);
    append_list(t, "Assignees: ", it.assignees);
    if (!it.milestone.empty()) t += "Milestone: " + it.milestone + "\n";
    if (!it.body.empty()) {
      t += '\n';
      github_markdown_to_text(it.body, t);
      while (!t.empty() && t.back() == '\n') t.pop_back();
      t += '\n';
    }
    auto found = notes.find(number);
    std::size_t count = 0;
    if (found != notes.end()) {
      auto& list = found->second;
      std::sort(list.begin(), list.end(), [](const note* a, const note* b) {
        return a->created != b->created ? a->created < b->created
               : a->kind != b->kind     ? a->kind < b->kind
                                        : a->id < b->id;
      });
      for (const note* p : list) {
        const note& n = *p;
        ++count;
        t += '\n';
        t += n.author.empty() ? "ghost" : n.author;
        if (n.kind == 2) t += " " + n.verb;
        t += " (" + n.created + ")";
        if (n.kind == 1 && !n.path.empty()) t += " on " + n.path + (n.line.empty() ? "" : " line " + n.line);
        t += ':';
        if (!n.text.empty()) {
          rendered.clear();
          github_markdown_to_text(n.text, rendered);
          while (!rendered.empty() && rendered.back() == '\n') rendered.pop_back();
          t += rendered.find('\n') == std::string::npos ? " " : "\n";
          t += rendered;
        }
        t += '\n';
      }
    }
    while (!t.empty() && t.back() == '\n') t.pop_back();
    d.meta.set("repo", std::string(repo));
    d.meta.set("number", static_cast<double>(number));
    d.meta.set("kind", it.pull ? "pull" : "issue");
    d.meta.set("state", it.state);
    if (!it.state_reason.empty()) d.meta.set("state_reason", it.state_reason);
    d.meta.set("url", it.url);
    if (!it.author.empty()) d.meta.set("author", it.author);
    d.meta.set("labels", it.labels);
    d.meta.set("assignees", it.assignees);
    if (!it.milestone.empty()) d.meta.set("milestone", it.milestone);
    d.meta.set("created_at", it.created);
    d.meta.set("updated_at", it.updated);
    if (!it.closed.empty()) d.meta.set("closed_at", it.closed);
    if (it.pull) {
      d.meta.set("merged", it.merged);
      if (!it.merged_at.empty()) d.meta.set("merged_at", it.merged_at);
      d.meta.set("draft", it.draft);
    }
    d.meta.set("comment_count", static_cast<double>(count));
    emit(std::move(d));
  }
}

void github_source::normalize(std::string_view partition, page_reader& pages, const document_fn& emit,
                              run_context& ctx) {
  normalize_github_repo(partition, pages, options_.include, emit, &ctx);
}

}  // namespace backfill
