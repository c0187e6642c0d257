// What the ledger's files share: one-value queries, and the schema's columns as a file has them.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>

#include "backfill/ledger/sqlite.hpp"

namespace backfill::ledger_detail {

// The first column of the first row `query` gives with `key` bound to its one parameter, as a
// std::string or an std::int64_t (`key` a string or an integer); nullopt when there is no row (a count(*)
// always has one).
template <class T, class Key>
std::optional<T> value_for(sql::database& db, std::string_view query, const Key& key) {
  auto st = db.prepare(query);
  st.bind(1, key);
  if (!st.step()) return std::nullopt;
  if constexpr (std::is_same_v<T, std::string>) {
    return st.column_string(0);
  } else {
    return st.column_int(0);
  }
}

// The declared type of a table's column ("TEXT", "INTEGER", ...); "" when the table or the column does
// not exist: what a migration asks of a ledger written by an older backfill.
inline std::string column_type(sql::database& db, std::string_view table, std::string_view column) {
  auto cols = db.prepare("SELECT type FROM pragma_table_info(?) WHERE name = ?");
  cols.bind(1, table).bind(2, column);
  return cols.step() ? cols.column_string(0) : std::string();
}

}  // namespace backfill::ledger_detail
