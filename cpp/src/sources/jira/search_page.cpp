// Reading a Jira search page's issue facts (search_page.hpp).
#include "sources/jira/search_page.hpp"

#include <utility>

#include "sources/jira/page_json.hpp"

namespace backfill::jira_search {
namespace {

using jira_json::get_str;

// An issue's comment field, from a walk at its value: how many comments search embedded, and how
// many there are. The first of repeated keys counts, as in a DOM lookup; a value of another type
// reads as absent. False when the walk cannot read it here.
bool scan_comment(json::walk& w, issue_facts& f) {
  if (w.peek() != '{') return w.skip();
  w.enter_object();
  bool seen_comments = false, seen_total = false;
  std::string_view name;
  while (w.next_member(name)) {
    if (!seen_comments && name == "comments" && w.peek() == '[') {
      seen_comments = true;
      w.enter_array();
      std::size_t n = 0;
      while (w.next_element()) {
        ++n;
        if (!w.skip()) return false;
      }
      f.embedded = n;
    } else if (!seen_total && name == "total") {
      seen_total = true;
      if (auto total = w.int64()) f.total = *total;
    } else {
      seen_comments = seen_comments || name == "comments";
      w.skip();
    }
    if (w.failed()) return false;
  }
  return !w.failed();
}

// An issue's fields, from a walk at their value: the time of update and the comment field.
bool scan_fields(json::walk& w, issue_facts& f) {
  if (w.peek() != '{') return w.skip();
  w.enter_object();
  bool seen_updated = false, seen_comment = false;
  std::string_view name;
  while (w.next_member(name)) {
    if (!seen_updated && name == "updated") {
      seen_updated = true;
      if (auto updated = w.string()) f.updated.assign(*updated);
    } else if (!seen_comment && name == "comment") {
      seen_comment = true;
      if (!scan_comment(w, f)) return false;
    } else {
      w.skip();
    }
    if (w.failed()) return false;
  }
  return !w.failed();
}

}  // namespace

bool scan_issue_member(std::vector<issue_facts>& issues, std::size_t position, std::string_view member,
                       json::walk& w) {
  if (issues.size() <= position) issues.resize(position + 1);
  issue_facts& f = issues[position];
  bool& seen = member == "fields" ? f.seen_fields : f.seen_key;
  if (std::exchange(seen, true)) return w.skip();
  if (member == "fields") return scan_fields(w, f);
  if (auto key = w.string()) f.key.assign(*key);
  return !w.failed();
}

void read_issues(const simdjson::dom::element& root, std::vector<issue_facts>& out) {
  out.clear();
  simdjson::dom::array issues;
  if (root["issues"].get(issues)) return;
  for (simdjson::dom::element issue : issues) {
    issue_facts f;
    f.key = get_str(issue, "/key");
    f.updated = get_str(issue, "/fields/updated");
    simdjson::dom::array comments;
    if (issue.at_pointer("/fields/comment/comments").get(comments) == simdjson::SUCCESS)
      f.embedded = comments.size();
    std::int64_t total = 0;
    if (!issue.at_pointer("/fields/comment/total").get(total)) f.total = total;
    out.push_back(std::move(f));
  }
}

}  // namespace backfill::jira_search
