// What the Jira fetch reads of a search page before it journals the page whole: each issue's key,
// time of update (the partition's watermark) and whether search embedded all its comments.
// Normally read by paginate's walk over the page (page_spec::on_member), which builds nothing;
// from the whole parse when the walk leaves the page to it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <simdjson.h>

#include "backfill/core/json_walk.hpp"

namespace backfill::jira_search {

struct issue_facts {
  std::string key;
  std::string updated;  // as Jira wrote it
  std::size_t embedded = 0;
  std::int64_t total = -1;                     // -1: not given
  bool seen_key = false, seen_fields = false;  // the first of repeated members counts
};

// A member ("key" or "fields") of the page's issue at `position`, from the walk at its value, into
// issues[position] (the vector grows as needed). False when the walk cannot read it here.
bool scan_issue_member(std::vector<issue_facts>& issues, std::size_t position, std::string_view member,
                       json::walk& w);

// The same facts of every issue, from a page parsed whole.
void read_issues(const simdjson::dom::element& root, std::vector<issue_facts>& out);

}  // namespace backfill::jira_search
