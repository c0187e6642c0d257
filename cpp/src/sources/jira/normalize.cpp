// Jira normalization: a journal page ({"search": <raw /search/jql body>, "comments": {"KEY": [<raw
// comment pages>]}}) becomes one document per issue, its description and comments rendered from ADF.
#include <algorithm>
#include <cctype>
#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <simdjson.h>

#include "backfill/core/errors.hpp"
#include "backfill/core/utc_time.hpp"
#include "backfill/sources/jira/adf.hpp"
#include "backfill/sources/jira/jira.hpp"
#include "sources/jira/fields.hpp"
#include "sources/jira/page_json.hpp"

namespace backfill {
namespace {

using jira_json::get_str;
using simdjson::dom::element;

// The issues of a journal page; a page without them is not one the source wrote.
simdjson::dom::array journal_issues(const element& root) {
  simdjson::dom::array issues;
  if (root.at_pointer("/search/issues").get(issues))
    throw source_error("a journaled Jira page has no search.issues");
  return issues;
}

std::string display(const element& fields, std::string_view pointer) {
  std::string_view s = get_str(fields, pointer);
  return std::string(s);
}

// A description or comment body: ADF (REST v3), or a plain string (REST v2 and the older shapes).
std::string body_text(const element& body) {
  std::string_view s;
  if (!body.get(s)) return std::string(s);
  return adf_to_text(body);
}

// What a comment is read for, in one pass over its members (a lookup by key scans them; "visibility",
// which most comments lack, scanned them all). The first of a repeated member counts, as a lookup's.
struct comment_members {
  std::string_view id, created, author;
  element body, visibility;  // set only when has_body, has_visibility
  bool has_body = false, has_visibility = false;
};

comment_members read_comment(const element& c) {
  comment_members m;
  simdjson::dom::object o;
  if (c.get(o)) return m;
  bool seen_id = false, seen_created = false, seen_author = false;
  for (const auto field : o) {
    const std::string_view k = field.key;
    std::string_view s;
    if (k == "id") {
      if (!std::exchange(seen_id, true) && !field.value.get(s)) m.id = s;
    } else if (k == "created") {
      if (!std::exchange(seen_created, true) && !field.value.get(s)) m.created = s;
    } else if (k == "author") {
      if (!std::exchange(seen_author, true)) m.author = get_str(field.value, "/displayName");
    } else if (k == "body") {
      if (!std::exchange(m.has_body, true)) m.body = field.value;
    } else if (k == "visibility") {
      if (!std::exchange(m.has_visibility, true)) m.visibility = field.value;
    }
  }
  return m;
}

}  // namespace

std::string jira_time_to_utc(std::string_view t) {
  // 2024-01-15T10:30:00.000+0100 (also Z, +01:00, no fraction)
  const std::optional<std::int64_t> local = parse_utc_prefix(t);
  if (!local) return {};
  std::int64_t secs = *local;
  std::size_t i = 19;
  if (i < t.size() && t[i] == '.') {
    ++i;
    while (i < t.size() && std::isdigit(static_cast<unsigned char>(t[i]))) ++i;
  }
  if (i < t.size() && (t[i] == '+' || t[i] == '-')) {
    const int sign = t[i] == '-' ? -1 : 1;
    int digits[4] = {};
    std::size_t count = 0;
    for (std::size_t k = i + 1; k < t.size(); ++k) {
      if (!std::isdigit(static_cast<unsigned char>(t[k]))) continue;
      if (count < 4) digits[count] = t[k] - '0';
      ++count;
    }
    if (count == 4) secs -= sign * ((digits[0] * 10 + digits[1]) * 3600 + (digits[2] * 10 + digits[3]) * 60);
  }
  return format_utc(secs);
}

void jira_source::page_items(std::string_view, const std::string& body, const item_fn& fn) {
  for (element issue : journal_issues(jira_json::parse_page(body, "a journaled Jira page"))) {
    std::string_view key = get_str(issue, "/key");
    if (!key.empty()) fn("jira:" + escape_key(key));
  }
}

void jira_source::normalize(std::string_view, page_reader& pages, const document_fn& emit, run_context& ctx) {
  pages.for_each([&](std::int64_t, const std::string& body, const std::string&) {
    normalize_jira_page(
        body, site_, emit,
        [&](std::string_view kind, const std::string& message) { ctx.warn(kind, message); },
        options_.include_restricted,
        [&](std::size_t position, std::string key, std::string reason) {
          pages.skip_item(position, key.empty() ? key : "jira:" + escape_key(key), std::move(reason));
        });
    ctx.checkpoint();
  });
}

void normalize_jira_page(const std::string& body, std::string_view site, const document_fn& emit,
                         const jira_warn_fn& warn, bool include_restricted, const skip_fn& skip) {
  element root = jira_json::parse_page(body, "a journaled Jira page");
  const simdjson::dom::array issues = journal_issues(root);
  simdjson::dom::object extra;
  bool has_extra = !root["comments"].get(extra);
  const std::vector<jira_fields::display_field> shown = jira_fields::of_page(root);
  std::string base(site);
  while (!base.empty() && base.back() == '/') base.pop_back();

  struct comment {
    std::string id, created, author, text;
  };
  std::size_t position = 0;
  for (element issue : issues) {
    const std::size_t at = position++;
    if (issue.is_null()) continue;
    std::string key(get_str(issue, "/key"));
    element fields;
    if (key.empty() || issue["fields"].get(fields) || !fields.is_object()) {
      if (skip)
        skip(at, key, key.empty() ? "the issue has no \"key\"" : "the issue has no \"fields\" object");
      continue;
    }
    document d;
    d.id = "jira:" + escape_key(key);
    d.source = "jira";
    std::string project(get_str(fields, "/project/key"));
    d.partition = project;
    d.title = key + ": " + std::string(get_str(fields, "/summary"));
    d.url = base + "/browse/" + key;
    d.created_at = jira_time_to_utc(get_str(fields, "/created"));
    d.updated_at = jira_time_to_utc(get_str(fields, "/updated"));
    element desc;
    std::string description = fields["description"].get(desc) ? "" : body_text(desc);

    std::vector<comment> comments;
    std::vector<std::string> visibility;  // of the restricted comments kept
    // The (id, created) of the comments search embedded: the comment pages bring them again, and the
    // sort below would keep the embedded one, so the page's copy is not rendered at all.
    std::vector<std::pair<std::string_view, std::string_view>> embedded_keys;
    bool from_pages = false;
    auto take = [&](simdjson::dom::array arr) {
      for (element c : arr) {
        const comment_members m = read_comment(c);
        if (m.has_visibility && m.visibility.is_object()) {
          if (!include_restricted) continue;
          visibility.push_back(std::string(get_str(m.visibility, "/type")) + ":" +
                               std::string(get_str(m.visibility, "/value")));
        }
        if (!m.id.empty()) {
          const std::pair<std::string_view, std::string_view> k{m.id, m.created};
          if (!from_pages)
            embedded_keys.push_back(k);
          else if (std::binary_search(embedded_keys.begin(), embedded_keys.end(), k))
            continue;
        }
        comment cm;
        cm.id = std::string(m.id);
        cm.created = jira_time_to_utc(m.created);
        cm.author = std::string(m.author);
        if (m.has_body) cm.text = body_text(m.body);
        comments.push_back(std::move(cm));
      }
    };
    simdjson::dom::array embedded;
    if (!fields.at_pointer("/comment/comments").get(embedded) || !fields["comment"].get(embedded))
      take(embedded);  // {"comments": [...]} as search embeds them, or a bare array (older shapes)
    simdjson::dom::array pages_of_comments;
    if (has_extra && !extra[key].get(pages_of_comments)) {
      std::sort(embedded_keys.begin(), embedded_keys.end());
      from_pages = true;
      for (element page : pages_of_comments) {
        simdjson::dom::array cs;
        if (!page["comments"].get(cs)) take(cs);
      }
    }
    // The same comment arrives embedded and from the comment pages: keep one, in order of creation.
    std::stable_sort(comments.begin(), comments.end(), [](const comment& a, const comment& b) {
      return a.created < b.created || (a.created == b.created && a.id < b.id);
    });
    comments.erase(
        std::unique(comments.begin(), comments.end(),
                    [](const comment& a, const comment& b) { return !a.id.empty() && a.id == b.id; }),
        comments.end());

    d.text = description;
    std::string shown_fields;
    metadata field_meta;  // the shown fields' metadata, under the keys set below
    jira_fields::render(fields, shown, shown_fields, field_meta,
                        [&](std::string_view kind, const std::string& message) {
                          if (warn) warn(kind, "Jira " + key + ": " + message);
                        });
    if (!shown_fields.empty()) d.text += (d.text.empty() ? "" : "\n\n") + shown_fields;
    for (const auto& c : comments) {
      if (!d.text.empty()) d.text += "\n\n";
      d.text += (c.author.empty() ? std::string("Someone") : c.author) + " (" + c.created + "): " + c.text;
    }
    d.meta.set("project", project);
    if (auto s = display(fields, "/status/name"); !s.empty()) d.meta.set("status", s);
    if (auto s = display(fields, "/issuetype/name"); !s.empty()) d.meta.set("type", s);
    if (auto s = display(fields, "/priority/name"); !s.empty()) d.meta.set("priority", s);
    if (auto s = display(fields, "/assignee/displayName"); !s.empty()) d.meta.set("assignee", s);
    if (auto s = display(fields, "/reporter/displayName"); !s.empty()) d.meta.set("reporter", s);
    if (auto s = display(fields, "/parent/key"); !s.empty()) d.meta.set("parent", s);
    std::vector<std::string> labels, components;
    simdjson::dom::array arr;
    if (!fields["labels"].get(arr))
      for (element l : arr) {
        std::string_view s;
        if (!l.get(s)) labels.emplace_back(s);
      }
    if (!fields["components"].get(arr))
      for (element c : arr) {
        std::string_view s = get_str(c, "/name");
        if (!s.empty()) components.emplace_back(s);
      }
    d.meta.set("labels", labels);
    d.meta.set("components", components);
    d.meta.set("comment_count", static_cast<double>(comments.size()));
    if (!visibility.empty()) {
      std::sort(visibility.begin(), visibility.end());
      visibility.erase(std::unique(visibility.begin(), visibility.end()), visibility.end());
      d.meta.set("visibility", std::move(visibility));
    }
    for (const auto& f : field_meta.fields())
      if (d.meta.get(f.key) == nullptr) d.meta.set(f.key, f.value);
    emit(std::move(d));
  }
}

}  // namespace backfill
