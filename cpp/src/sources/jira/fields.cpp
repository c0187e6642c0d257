// Jira issue fields as a reader sees them on the issue view (see fields.hpp).
#include "sources/jira/fields.hpp"

#include <cmath>
#include <cstdint>

#include <fmt/format.h>
#include <simdjson.h>

#include "backfill/core/document.hpp"
#include "backfill/sources/jira/adf.hpp"
#include "sources/jira/page_json.hpp"

namespace backfill::jira_fields {
namespace {

using jira_json::get_str;
using simdjson::dom::element;

// What a system field's value is and where its metadata goes ("" when normalize sets it already).
enum class shape { generic, issue, issues, links, attachments };
struct system_field {
  const char* id;
  shape kind;
  const char* meta_key;
};
constexpr system_field system_fields[] = {
    {"status", shape::generic, ""},        {"resolution", shape::generic, "resolution"},
    {"priority", shape::generic, ""},      {"assignee", shape::generic, ""},
    {"reporter", shape::generic, ""},      {"labels", shape::generic, ""},
    {"components", shape::generic, ""},    {"fixVersions", shape::generic, "fix_versions"},
    {"parent", shape::issue, ""},          {"subtasks", shape::issues, "subtasks"},
    {"issuelinks", shape::links, "links"}, {"attachment", shape::attachments, "attachments"},
};

const system_field* system_of(std::string_view id) {
  for (const auto& f : system_fields)
    if (id == f.id) return &f;
  return nullptr;
}

// "Epic Name" -> "epic_name": a display name as a metadata key.
std::string meta_key_of(std::string_view name) {
  std::string key;
  for (char c : name) {
    const auto u = static_cast<unsigned char>(c);
    if (std::isalnum(u) != 0)
      key.push_back(static_cast<char>(std::tolower(u)));
    else if (!key.empty() && key.back() != '_')
      key.push_back('_');
  }
  while (!key.empty() && key.back() == '_') key.pop_back();
  return key;
}

std::string number_text(double v) {
  if (std::isfinite(v) && v == std::floor(v) && std::fabs(v) < 1e15)
    return std::to_string(static_cast<long long>(v));
  return fmt::format("{}", v);
}

// "KEY summary" of an issue reference (parent, sub-task, linked issue); "" without a key.
std::string issue_text(const element& issue) {
  std::string out(get_str(issue, "/key"));
  if (out.empty()) return out;
  if (const std::string_view summary = get_str(issue, "/fields/summary"); !summary.empty())
    out.append(" ").append(summary);
  return out;
}

// A value as the issue view shows it: strings, numbers, named things (options, users, versions),
// rich text (ADF, into `rich`), and arrays of those. False for a shape none of these is.
bool read_value(const element& v, std::vector<std::string>& out, std::string& rich, bool& numeric) {
  std::string_view s;
  double d = 0;
  std::int64_t i = 0;
  bool b = false;
  switch (v.type()) {
    case simdjson::dom::element_type::NULL_VALUE: return true;
    case simdjson::dom::element_type::STRING:
      if (!v.get(s) && !s.empty()) out.emplace_back(s);
      return true;
    case simdjson::dom::element_type::INT64:
      if (!v.get(i)) out.push_back(std::to_string(i));
      numeric = true;
      return true;
    case simdjson::dom::element_type::UINT64:
    case simdjson::dom::element_type::DOUBLE:
      if (!v.get(d)) out.push_back(number_text(d));
      numeric = true;
      return true;
    case simdjson::dom::element_type::BOOL:
      if (!v.get(b)) out.emplace_back(b ? "Yes" : "No");
      return true;
    case simdjson::dom::element_type::ARRAY: {
      simdjson::dom::array arr;
      if (v.get(arr)) return false;
      for (element item : arr)
        if (!read_value(item, out, rich, numeric)) return false;
      return true;
    }
    case simdjson::dom::element_type::OBJECT: break;
  }
  if (get_str(v, "/type") == "doc") {
    if (!rich.empty()) rich += "\n";
    rich += adf_to_text(v);
    return true;
  }
  for (const char* key : {"/value", "/displayName", "/name", "/key"}) {
    std::string text(get_str(v, key));
    if (text.empty()) continue;
    if (const std::string_view child = get_str(v, "/child/value"); !child.empty())
      text += " - " + std::string(child);  // a cascading select: parent - child
    out.push_back(std::move(text));
    return true;
  }
  return false;
}

void read_issues(const element& v, std::vector<std::string>& out) {
  simdjson::dom::array arr;
  if (v.get(arr)) return;
  for (element item : arr) {
    element linked;  // the spec's "sub-tasks" shape: links to the sub-tasks
    std::string text = issue_text(item["outwardIssue"].get(linked) ? item : linked);
    if (!text.empty()) out.push_back(std::move(text));
  }
}

void read_links(const element& v, std::vector<std::string>& out) {
  simdjson::dom::array arr;
  if (v.get(arr)) return;
  for (element link : arr) {
    element other;
    std::string_view how;
    if (!link["outwardIssue"].get(other)) {
      how = get_str(link, "/type/outward");
    } else if (!link["inwardIssue"].get(other)) {
      how = get_str(link, "/type/inward");
    } else {
      continue;
    }
    std::string text = issue_text(other);
    if (text.empty()) continue;
    out.push_back(how.empty() ? text : std::string(how) + " " + text);
  }
}

}  // namespace

const std::vector<display_field>& defaults() {
  static const std::vector<display_field> fields = {
      {"status", "Status"},         {"resolution", "Resolution"},    {"priority", "Priority"},
      {"assignee", "Assignee"},     {"reporter", "Reporter"},        {"labels", "Labels"},
      {"components", "Components"}, {"fixVersions", "Fix versions"}, {"parent", "Parent"},
      {"subtasks", "Sub-tasks"},    {"issuelinks", "Linked issues"}, {"attachment", "Attachments"},
  };
  return fields;
}

std::vector<display_field> of_page(const element& root) {
  simdjson::dom::array listed;
  if (root["fields"].get(listed)) return defaults();
  std::vector<display_field> out;
  for (element f : listed) {
    display_field d{std::string(get_str(f, "/id")), std::string(get_str(f, "/name"))};
    if (!d.id.empty() && !d.name.empty()) out.push_back(std::move(d));
  }
  return out;
}

void render(const element& fields, const std::vector<display_field>& shown, std::string& text, metadata& meta,
            const std::function<void(std::string_view, const std::string&)>& warn) {
  for (const auto& f : shown) {
    element v;
    const system_field* sys = system_of(f.id);
    if (fields[f.id].get(v) && !(f.id == "subtasks" && !fields["sub-tasks"].get(v))) continue;
    std::vector<std::string> items;
    std::string rich;
    bool numeric = false;
    const shape kind = sys ? sys->kind : shape::generic;
    if (kind == shape::issue) {
      if (std::string t = issue_text(v); !t.empty()) items.push_back(std::move(t));
    } else if (kind == shape::issues) {
      read_issues(v, items);
    } else if (kind == shape::links) {
      read_links(v, items);
    } else if (kind == shape::attachments) {
      simdjson::dom::array arr;
      if (!v.get(arr))
        for (element a : arr)
          if (const std::string_view name = get_str(a, "/filename"); !name.empty()) items.emplace_back(name);
    } else if (!read_value(v, items, rich, numeric)) {
      if (warn)
        warn("jira field " + f.id,
             fmt::format("field '{}' ({}) has a value of a shape backfill does not read; left out", f.name,
                         f.id));
      continue;
    }
    if (!items.empty()) {
      if (!text.empty() && text.back() != '\n') text += '\n';
      text += f.name + ": ";
      for (std::size_t k = 0; k < items.size(); ++k) text += (k ? ", " : "") + items[k];
    }
    if (!rich.empty()) {
      if (!text.empty() && text.back() != '\n') text += '\n';
      text += f.name + ":\n" + rich;
    }
    const std::string key = sys ? sys->meta_key : meta_key_of(f.name);
    if (key.empty() || items.empty() || meta.get(key) != nullptr) continue;
    const bool list =
        v.is_array() || kind == shape::issues || kind == shape::links || kind == shape::attachments;
    if (list)
      meta.set(key, items);
    else if (numeric && items.size() == 1)
      meta.set(key, std::stod(items[0]));
    else
      meta.set(key, items[0]);
  }
}

}  // namespace backfill::jira_fields
