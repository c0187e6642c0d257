// Atlassian Document Format (Jira descriptions and comments) to plain text. Every node type of the
// ADF schema has a rendering (lists numbered or bulleted, tables as " | " rows, links with their URLs,
// mentions, emoji, dates, status lozenges, media as placeholders); unknown nodes are descended into,
// never dropped, so text inside future node types still arrives.
#pragma once

#include <string>
#include <string_view>

namespace simdjson::dom {
class element;
}

namespace backfill {

// Renders a parsed ADF node (usually the "doc"). A JSON null gives "".
std::string adf_to_text(const simdjson::dom::element& node);
// Parses and renders ADF given as JSON text. Throws backfill::source_error on invalid JSON.
std::string adf_to_text(std::string_view json);

}  // namespace backfill
