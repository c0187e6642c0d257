#include "pipeline/page_scan.hpp"

namespace backfill {

page_scan::page_scan() : db_("", "validation scratch database") {
  db_.exec(
      "PRAGMA journal_mode=OFF; PRAGMA synchronous=OFF;"
      "CREATE TABLE items(id TEXT NOT NULL, partition TEXT NOT NULL, path TEXT NOT NULL);"
      "CREATE TABLE pages(path TEXT PRIMARY KEY, hash TEXT NOT NULL, items INTEGER NOT NULL,"
      " counted INTEGER NOT NULL);"
      "BEGIN");
}

bool page_scan::begin_page(const std::string& path, const std::string& hash) {
  if (!path_.empty()) return false;
  auto& q = db_.cached("SELECT hash FROM pages WHERE path = ?");
  q.bind(1, path);
  const bool listed = q.step();
  const bool same = listed && q.column_text(0) == hash;
  q.reset();
  if (same) return false;
  if (listed) {  // the page was written again since: what it held then counts no more
    db_.cached("DELETE FROM items WHERE path = ?").bind(1, path).run();
    db_.cached("DELETE FROM pages WHERE path = ?").bind(1, path).run();
  }
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

void page_scan::end_page(bool counted) {
  if (path_.empty()) return;
  db_.cached("INSERT INTO pages(path, hash, items, counted) VALUES(?,?,?,?)")
      .bind(1, path_)
      .bind(2, hash_)
      .bind(3, items_)
      .bind(4, counted ? 1 : 0)
      .run();
  path_.clear();
}

void page_scan::abandon_page() {
  if (path_.empty()) return;
  db_.cached("DELETE FROM items WHERE path = ?").bind(1, path_).run();
  path_.clear();
}

std::optional<std::int64_t> page_scan::count(const std::string& path, const std::string& hash) {
  auto& q = db_.cached("UPDATE pages SET counted = 1 WHERE path = ? AND hash = ? RETURNING items");
  q.bind(1, path).bind(2, hash);
  std::optional<std::int64_t> items;
  if (q.step()) items = q.column_int(0);
  q.reset();
  return items;
}

void page_scan::duplicates(
    const std::function<void(std::string_view, std::string_view, std::string_view)>& fn) {
  // Only the pages counted: not those listed once and gone or written again since.
  db_.exec(
      "DELETE FROM items WHERE path NOT IN (SELECT path FROM pages WHERE counted);"
      "COMMIT; CREATE INDEX items_by_id ON items(id)");
  auto dups = db_.prepare(
      "SELECT id, min(partition), group_concat(path, char(10)) FROM items WHERE id IN"
      " (SELECT id FROM items GROUP BY id HAVING count(*) > 1) GROUP BY id ORDER BY id");
  while (dups.step()) fn(dups.column_text(0), dups.column_text(1), dups.column_text(2));
}

}  // namespace backfill
