#include "pipeline/page_scan.hpp"

namespace backfill {

page_scan::page_scan() : db_("", "validation scratch database") {
  db_.exec(
      "PRAGMA journal_mode=OFF; PRAGMA synchronous=OFF;"
      "CREATE TABLE items(id TEXT NOT NULL, partition TEXT NOT NULL, path TEXT NOT NULL);"
      "CREATE TABLE pages(path TEXT PRIMARY KEY, hash TEXT NOT NULL, items INTEGER NOT NULL);"
      "BEGIN");
}

bool page_scan::begin_page(const std::string& path, const std::string& hash) {
  if (scanned(path, hash) || !path_.empty()) return false;
  path_ = path;
  hash_ = hash;
  items_ = 0;
  return true;
}

void page_scan::add(std::string_view id, std::string_view partition) {
  ++items_;
  db_.cached("INSERT INTO items(id, partition, path) VALUES(?,?,?)")
      .bind(1, id)
      .bind(2, partition)
      .bind(3, path_)
      .run();
}

void page_scan::end_page() {
  if (path_.empty()) return;
  db_.cached("INSERT OR REPLACE INTO pages(path, hash, items) VALUES(?,?,?)")
      .bind(1, path_)
      .bind(2, hash_)
      .bind(3, items_)
      .run();
  path_.clear();
}

void page_scan::abandon_page() {
  if (path_.empty()) return;
  db_.cached("DELETE FROM items WHERE path = ?").bind(1, path_).run();
  path_.clear();
}

std::optional<std::int64_t> page_scan::scanned(const std::string& path, const std::string& hash) {
  auto& q = db_.cached("SELECT items FROM pages WHERE path = ? AND hash = ?");
  q.bind(1, path).bind(2, hash);
  std::optional<std::int64_t> items;
  if (q.step()) items = q.column_int(0);
  q.reset();
  return items;
}

void page_scan::duplicates(
    const std::function<void(std::string_view, std::string_view, std::string_view)>& fn) {
  db_.exec("COMMIT; CREATE INDEX items_by_id ON items(id)");
  auto dups = db_.prepare(
      "SELECT id, min(partition), group_concat(path, char(10)) FROM items WHERE id IN"
      " (SELECT id FROM items GROUP BY id HAVING count(*) > 1) GROUP BY id ORDER BY id");
  while (dups.step()) fn(dups.column_text(0), dups.column_text(1), dups.column_text(2));
}

}  // namespace backfill
