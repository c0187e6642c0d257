// The fields of a Jira issue a reader sees on the issue view, rendered into the document's text under
// their display names ("Status: In Progress", "Linked issues: blocks PR-2") and kept as typed
// metadata. Which fields: the journal page names them ("fields": the field catalogue's entries the
// source chose, [{"id", "name", "schema"}]); a page that does not gets the issue view's system fields.
#pragma once

#include <functional>
#include <string>
#include <string_view>
#include <vector>

namespace simdjson::dom {
class element;
}

namespace backfill {
class metadata;
}

namespace backfill::jira_fields {

struct display_field {
  std::string id;    // the API's field id: "status", "customfield_10011"
  std::string name;  // what the issue view calls it: "Status", "Epic Name"
};

// The issue view's system fields, in the order it shows them.
const std::vector<display_field>& defaults();
// The fields a journal page names, else defaults().
std::vector<display_field> of_page(const simdjson::dom::element& root);

// Appends "Name: value" lines for the fields the issue has to `text`, and sets their metadata.
// `warn(kind, message)` hears of a value whose shape no rule reads (it is left out, never dropped
// silently); the kind names the field ("jira field customfield_10050").
void render(const simdjson::dom::element& fields, const std::vector<display_field>& shown, std::string& text,
            metadata& meta, const std::function<void(std::string_view, const std::string&)>& warn);

}  // namespace backfill::jira_fields
