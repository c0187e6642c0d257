// Canonical JSON of any tree of values: object keys sorted bytewise, no whitespace, strings escaped by
// json::append_string. One writer for every tree the core meets: a parsed document (json::canonicalize)
// and the metadata dicts the bindings read from Python (cpp/bindings/records.cpp), so the two give
// the same bytes for the same meaning, which is what metadata hashes compare.
//
// A Tree reads its own nodes and leaves the layout to write_canonical:
//   using node = ...;                     // a cheap handle (a pointer, a parser element)
//   using mark = ...;                     // where the tree's scratch space stood (see below)
//   json::value_kind kind_of(node) const;       // what the node is; value_kind::other stops the writing
//   bool text(node, std::string_view&);   // a string's UTF-8; false when it has none
//   bool number(std::string&, node);      // appends a number in the tree's own form; false: none
//   bool members(node, std::vector<std::pair<std::string_view, node>>&);  // an object's fields
//   bool elements(node, F each);          // each(item) -> bool for an array's items, in order
//   mark keep(); void release(mark);      // key texts stay valid from keep() to release()
// Every false return ends the walk with false and leaves `out` half written: the caller discards it.
#pragma once

#include <algorithm>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "backfill/core/json.hpp"

namespace backfill::json {

enum class value_kind { object, array, string, number, boolean_true, boolean_false, null, other };

template <class Tree>
bool write_canonical(std::string& out, Tree& tree, typename Tree::node n, int max_depth) {
  using node = typename Tree::node;
  if (max_depth < 0) return false;
  switch (tree.kind_of(n)) {
    case value_kind::string: {
      std::string_view s;
      if (!tree.text(n, s)) return false;
      append_string(out, s);
      return true;
    }
    case value_kind::number: return tree.number(out, n);
    case value_kind::boolean_true: out += "true"; return true;
    case value_kind::boolean_false: out += "false"; return true;
    case value_kind::null: out += "null"; return true;
    case value_kind::array: {
      out.push_back('[');
      bool first = true;
      if (!tree.elements(n, [&](node item) {
            if (!first) out.push_back(',');
            first = false;
            return write_canonical(out, tree, item, max_depth - 1);
          }))
        return false;
      out.push_back(']');
      return true;
    }
    case value_kind::object: {
      auto kept = tree.keep();
      std::vector<std::pair<std::string_view, node>> fields;
      bool ok = tree.members(n, fields);
      if (ok) {
        // UTF-8 byte order is code point order: the order of Python's sort_keys=True.
        std::stable_sort(fields.begin(), fields.end(),
                         [](const auto& a, const auto& b) { return a.first < b.first; });
        out.push_back('{');
        for (std::size_t i = 0; ok && i < fields.size(); ++i) {
          if (i) out.push_back(',');
          append_string(out, fields[i].first);
          out.push_back(':');
          ok = write_canonical(out, tree, fields[i].second, max_depth - 1);
        }
        out.push_back('}');
      }
      tree.release(kept);
      return ok;
    }
    case value_kind::other: return false;
  }
  return false;
}

}  // namespace backfill::json
