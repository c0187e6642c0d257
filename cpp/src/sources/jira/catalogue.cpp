// Jira's field catalogue: the fields a run shows (see catalogue.hpp).
#include "backfill/sources/jira/catalogue.hpp"

#include <algorithm>
#include <cctype>
#include <numeric>
#include <utility>

#include <fmt/format.h>
#include <simdjson.h>

#include "backfill/core/errors.hpp"
#include "backfill/core/json.hpp"
#include "sources/jira/fields.hpp"
#include "sources/jira/page_json.hpp"

namespace backfill::jira_catalogue {
namespace {

using jira_json::get_str;
using simdjson::dom::element;

// What normalize reads whatever is shown: the document's own fields and its metadata.
constexpr const char* read_always[] = {"summary", "description", "status",   "issuetype", "priority",
                                       "labels",  "components",  "assignee", "reporter",  "created",
                                       "updated", "comment",     "project",  "parent"};
// A multi-line text custom field: ADF in REST v3, what the issue view shows as rich text.
constexpr std::string_view rich_text_type = "com.atlassian.jira.plugin.system.customfieldtypes:textarea";

struct entry {
  std::string id, name, schema;  // schema: its JSON, "" when the catalogue gives none
  bool rich_text = false;
};

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

std::size_t edit_distance(std::string_view a, std::string_view b) {
  std::vector<std::size_t> row(b.size() + 1);
  std::iota(row.begin(), row.end(), std::size_t{0});
  for (std::size_t i = 1; i <= a.size(); ++i) {
    std::size_t diagonal = row[0];
    row[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j) {
      const std::size_t above = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diagonal = above;
    }
  }
  return row[b.size()];
}

std::vector<entry> read_catalogue(const std::string& body, std::string_view site) {
  simdjson::dom::parser parser;
  const element root = jira_json::parse_padded(parser, body, fmt::format("Jira {}'s field list", site));
  simdjson::dom::array listed;
  if (root.get(listed))
    throw source_error(
        fmt::format("Jira {}: /rest/api/3/field did not answer a list of fields; check source.url", site));
  std::vector<entry> out;
  for (element f : listed) {
    entry e{std::string(get_str(f, "/id")), std::string(get_str(f, "/name")), {}, false};
    if (e.id.empty() || e.name.empty()) continue;
    element schema;
    if (!f["schema"].get(schema)) {
      e.schema = simdjson::minify(schema);
      e.rich_text = get_str(schema, "/custom") == rich_text_type;
    }
    out.push_back(std::move(e));
  }
  return out;
}

[[noreturn]] void unknown_name(const std::string& wanted, const std::vector<entry>& catalogue,
                               std::string_view site) {
  std::vector<std::string> names;
  for (const auto& e : catalogue) names.push_back(e.name);
  const std::vector<std::string> near = close_matches(wanted, names);
  std::string hint;
  for (const auto& n : near) hint += (hint.empty() ? "; did you mean '" : "', '") + n;
  if (!hint.empty()) hint += "'?";
  throw config_error(fmt::format(
      "source.fields: Jira {} has no field named '{}'{} (names as GET /rest/api/3/field lists them, "
      "or field ids such as customfield_10011)",
      site, wanted, hint));
}

}  // namespace

std::vector<std::string> close_matches(std::string_view wanted, const std::vector<std::string>& names,
                                       std::size_t limit) {
  const std::string want = lower(wanted);
  const std::size_t allowed = std::max<std::size_t>(2, want.size() / 4);
  std::vector<std::pair<std::size_t, std::string>> scored;
  for (const auto& name : names) {
    const std::string have = lower(name);
    std::size_t d = edit_distance(want, have);
    const bool contained = !want.empty() && (have.find(want) != std::string::npos ||
                                             (have.size() > 2 && want.find(have) != std::string::npos));
    if (d > allowed && !contained) continue;
    if (std::none_of(scored.begin(), scored.end(), [&](const auto& s) { return s.second == name; }))
      scored.emplace_back(d, name);
  }
  std::stable_sort(scored.begin(), scored.end(),
                   [](const auto& a, const auto& b) { return a.first < b.first; });
  std::vector<std::string> out;
  for (std::size_t i = 0; i < scored.size() && i < limit; ++i) out.push_back(std::move(scored[i].second));
  return out;
}

choice choose(const std::string& body, const std::vector<std::string>& wanted, std::string_view site) {
  const std::vector<entry> catalogue = read_catalogue(body, site);
  std::vector<const entry*> chosen;
  auto take = [&](const entry& e) {
    if (std::none_of(chosen.begin(), chosen.end(), [&](const entry* c) { return c->id == e.id; }))
      chosen.push_back(&e);
  };
  if (wanted.empty()) {
    // The issue view's system fields, under the site's names, then its rich-text custom fields.
    for (const auto& f : jira_fields::defaults())
      for (const auto& e : catalogue)
        if (e.id == f.id) take(e);
    for (const auto& e : catalogue)
      if (e.rich_text) take(e);
  }
  for (const auto& name : wanted) {
    const std::string want = lower(name);
    bool found = false;
    for (const auto& e : catalogue)
      if (e.id == name || lower(e.name) == want) {
        take(e);
        found = true;
      }
    if (!found) unknown_name(name, catalogue, site);
  }

  choice out;
  out.page_fields = "[";
  for (const entry* e : chosen) {
    out.page_fields += out.page_fields.size() > 1 ? ",{\"id\":" : "{\"id\":";
    json::append_string(out.page_fields, e->id);
    out.page_fields += ",\"name\":";
    json::append_string(out.page_fields, e->name);
    if (!e->schema.empty()) out.page_fields += ",\"schema\":" + e->schema;
    out.page_fields += "}";
    out.ids.push_back(e->id);
  }
  out.page_fields += "]";
  std::vector<std::string> api(std::begin(read_always), std::end(read_always));
  for (const auto& id : out.ids)
    if (std::find(api.begin(), api.end(), id) == api.end()) api.push_back(id);
  for (const auto& id : api) out.api_fields += (out.api_fields.empty() ? "" : ",") + id;
  return out;
}

}  // namespace backfill::jira_catalogue
