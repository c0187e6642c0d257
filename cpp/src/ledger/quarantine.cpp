// The ledger's quarantine: items of journal pages the normalizer could not read, per partition.
#include <string>

#include "backfill/ledger/ledger.hpp"
#include "value_for.hpp"

namespace backfill {

void ledger::set_quarantined(std::string_view source, std::string_view partition,
                             const std::vector<quarantined_item>& items) {
  sql::transaction tx(db_);
  db_.cached("DELETE FROM quarantine WHERE source=? AND partition=?")
      .bind(1, source)
      .bind(2, partition)
      .run();
  auto& add = db_.cached(
      "INSERT OR REPLACE INTO quarantine(source, partition, page, position, id, reason) VALUES(?,?,?,?,?,?)");
  for (const auto& q : items) {
    add.bind(1, source)
        .bind(2, partition)
        .bind(3, q.page)
        .bind(4, q.position)
        .bind(5, q.id)
        .bind(6, q.reason);
    add.run();
  }
  tx.commit();
}

std::int64_t ledger::quarantined_count(std::string_view source) {
  return ledger_detail::value_for<std::int64_t>(db_, "SELECT count(*) FROM quarantine WHERE source=?", source)
      .value_or(0);
}

std::vector<quarantined_item> ledger::quarantined(std::string_view source, std::size_t limit) {
  auto st = db_.prepare(
      "SELECT partition, page, position, id, reason FROM quarantine WHERE source=? "
      "ORDER BY partition, page, position LIMIT ?");
  st.bind(1, source).bind(2, static_cast<std::int64_t>(limit));
  std::vector<quarantined_item> out;
  while (st.step())
    out.push_back({st.column_string(0), st.column_string(1), st.column_int(2), st.column_string(3),
                   st.column_string(4)});
  return out;
}

std::vector<std::string> ledger::quarantined_partitions(std::string_view source) {
  auto st = db_.prepare("SELECT DISTINCT partition FROM quarantine WHERE source=? ORDER BY partition");
  st.bind(1, source);
  std::vector<std::string> out;
  while (st.step()) out.push_back(st.column_string(0));
  return out;
}

std::vector<std::string> ledger::quarantined_ids(std::string_view source, std::string_view partition) {
  auto st = db_.prepare("SELECT id FROM quarantine WHERE source=? AND partition=? ORDER BY page, position");
  st.bind(1, source).bind(2, partition);
  std::vector<std::string> out;
  while (st.step()) out.push_back(st.column_string(0));
  return out;
}

}  // namespace backfill
