// Jira's field catalogue (GET /rest/api/3/field): which issue fields a run shows, chosen by the display
// names of `source.fields`, and what that asks of the search API. The source reads the catalogue once
// per run and writes the chosen entries into every journal page ("fields"), so a page normalizes the
// same from the journal alone (fields.hpp reads them).
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace backfill::jira_catalogue {

struct choice {
  std::string page_fields;  // the chosen entries as a JSON array: [{"id","name","schema"}, ...]
  std::string api_fields;   // the search's `fields` parameter: what normalize reads, then the chosen ids
  std::vector<std::string> ids;
};

// Chooses from the catalogue `body` (a JSON array of FieldDetails) the fields named in `wanted`: a
// display name (any case) or a field id; a name several fields share chooses them all. Empty
// `wanted`: the issue view's system fields (fields.hpp) and every rich-text (textarea) custom field.
// Throws config_error naming an unknown name and the catalogue's close matches; source_error when
// `body` is not a catalogue. `site` names the site in errors.
choice choose(const std::string& body, const std::vector<std::string>& wanted, std::string_view site);

// Up to `limit` names of `names` close to `wanted` (edit distance, or one containing the other, in
// any case), closest first.
std::vector<std::string> close_matches(std::string_view wanted, const std::vector<std::string>& names,
                                       std::size_t limit = 3);

}  // namespace backfill::jira_catalogue
