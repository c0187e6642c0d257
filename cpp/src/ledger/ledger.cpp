#include "backfill/ledger/ledger.hpp"

#include <chrono>
#include <ctime>
#include <optional>
#include <string>
#include <type_traits>

#include <fmt/format.h>

#include "backfill/core/errors.hpp"
#include "backfill/core/utc_time.hpp"
#include "half_vectors.hpp"
#include "value_for.hpp"
#include "vector_files.hpp"

namespace backfill {

using ledger_detail::value_for;

std::string utc_now_iso() {
  return format_utc(std::chrono::system_clock::to_time_t(std::chrono::system_clock::now()));
}

namespace {

constexpr const char* schema = R"sql(
CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS partitions(
  source TEXT NOT NULL, name TEXT NOT NULL,
  status TEXT NOT NULL DEFAULT 'pending', cursor TEXT NOT NULL DEFAULT '',
  pages INTEGER NOT NULL DEFAULT 0, items INTEGER NOT NULL DEFAULT 0,
  updated_at TEXT NOT NULL, watermark TEXT NOT NULL DEFAULT '',
  UNIQUE(source, name));
CREATE TABLE IF NOT EXISTS pages(
  source TEXT NOT NULL, partition TEXT NOT NULL, seq INTEGER NOT NULL,
  path TEXT NOT NULL, hash TEXT NOT NULL, items INTEGER NOT NULL, bytes INTEGER NOT NULL,
  cursor_after TEXT NOT NULL, fetched_at TEXT NOT NULL,
  PRIMARY KEY(source, partition, seq)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS sink_ids(id INTEGER PRIMARY KEY, identity TEXT NOT NULL UNIQUE);
CREATE TABLE IF NOT EXISTS documents(
  sink INTEGER NOT NULL, id TEXT NOT NULL, partition TEXT NOT NULL,
  content_hash TEXT NOT NULL, updated_at TEXT NOT NULL, complete INTEGER NOT NULL,
  ingested_at TEXT NOT NULL,
  PRIMARY KEY(sink, id)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS chunks(
  sink INTEGER NOT NULL, id TEXT NOT NULL, doc_id TEXT NOT NULL,
  meta_hash TEXT NOT NULL, live INTEGER NOT NULL,
  PRIMARY KEY(sink, id)) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS chunks_by_doc ON chunks(sink, doc_id);
CREATE TABLE IF NOT EXISTS sinks(sink INTEGER PRIMARY KEY, baseline INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS tombstones(
  sink INTEGER NOT NULL, id TEXT NOT NULL, updated_at TEXT NOT NULL, deleted_at TEXT NOT NULL,
  PRIMARY KEY(sink, id)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS unsent(
  sink INTEGER NOT NULL, id TEXT NOT NULL, doc_id TEXT NOT NULL, reason TEXT NOT NULL,
  PRIMARY KEY(sink, id)) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS unsent_by_doc ON unsent(sink, doc_id);
CREATE TABLE IF NOT EXISTS quarantine(
  source TEXT NOT NULL, partition TEXT NOT NULL, page TEXT NOT NULL, position INTEGER NOT NULL,
  id TEXT NOT NULL, reason TEXT NOT NULL,
  PRIMARY KEY(source, partition, page, position)) WITHOUT ROWID;
-- A cached vector is in vectors/<file>.vec at offset, size bytes (vector_files.hpp): float32 as
-- embedded, or a half blob once gc compacted it. Rows are keyed by the embedder's integer id and
-- the text's hash and hold only where the bytes are, so a table without rowid keeps them in one
-- b-tree of small rows: each embed call's rows change few pages of it.
CREATE TABLE IF NOT EXISTS embedder_ids(id INTEGER PRIMARY KEY, identity TEXT NOT NULL UNIQUE);
CREATE TABLE IF NOT EXISTS embeddings(
  embedder INTEGER NOT NULL, text_hash TEXT NOT NULL,
  file INTEGER NOT NULL, offset INTEGER NOT NULL, size INTEGER NOT NULL, checksum INTEGER NOT NULL,
  PRIMARY KEY(embedder, text_hash)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS heal_groups(id INTEGER PRIMARY KEY, copies BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS heal_copies(
  embedder INTEGER NOT NULL, text_hash TEXT NOT NULL, grp INTEGER NOT NULL, offset INTEGER NOT NULL,
  size INTEGER NOT NULL, PRIMARY KEY(embedder, text_hash)) WITHOUT ROWID;
)sql";

}  // namespace

ledger::ledger(const std::filesystem::path& path)
    : db_(path, "ledger"),
      files_(std::make_unique<ledger_detail::vector_files>(path.parent_path() / "vectors")) {
  // A ledger of schema 1 keyed its per-sink rows by the sink's identity (a URL and a namespace,
  // repeated in every row); it is rewritten with integer ids (ledger/sink_ids.cpp) before anything else.
  db_.exec("CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT NOT NULL)");
  auto v = get_meta("schema_version");
  if (v && std::atoi(v->c_str()) > schema_version)
    throw ledger_error("ledger " + path.string() + " was written by a newer backfill (schema " + *v +
                       "); upgrade backfill or use another workdir");
  migrate_to_sink_ids();
  migrate_to_embedder_ids();
  db_.exec(schema);
  // Ledgers written before partitions had a watermark gain the column.
  if (ledger_detail::column_type(db_, "partitions", "watermark").empty())
    db_.exec("ALTER TABLE partitions ADD COLUMN watermark TEXT NOT NULL DEFAULT ''");
  if (v != std::to_string(schema_version)) set_meta("schema_version", std::to_string(schema_version));
}

ledger::~ledger() = default;

std::int64_t ledger::identity_key(id_table& table, std::string_view identity, bool create) {
  std::lock_guard<std::mutex> lock(table.mutex);
  if (auto it = table.known.find(identity); it != table.known.end()) return it->second;
  if (create) db_.cached(table.insert).bind(1, identity).run();
  auto& st = db_.cached(table.select);
  st.bind(1, identity);
  std::int64_t id = st.step() ? st.column_int(0) : -1;
  st.reset();
  if (id >= 0) table.known.emplace(std::string(identity), id);
  return id;
}

std::optional<std::string> ledger::get_meta(std::string_view key) {
  return value_for<std::string>(db_, "SELECT value FROM meta WHERE key=?", key);
}

void ledger::set_meta(std::string_view key, std::string_view value) {
  db_.prepare("INSERT INTO meta(key, value) VALUES(?,?) ON CONFLICT(key) DO UPDATE SET value=excluded.value")
      .bind(1, key)
      .bind(2, value)
      .run();
}

void ledger::add_partition(std::string_view source, std::string_view name) {
  db_.prepare("INSERT OR IGNORE INTO partitions(source, name, updated_at) VALUES(?,?,?)")
      .bind(1, source)
      .bind(2, name)
      .bind(3, utc_now_iso())
      .run();
}

namespace {
partition_row read_partition(sql::statement& st) {
  partition_row r;
  r.source = st.column_string(0);
  r.name = st.column_string(1);
  r.status = st.column_string(2);
  r.cursor = st.column_string(3);
  r.pages = st.column_int(4);
  r.items = st.column_int(5);
  r.updated_at = st.column_string(6);
  r.watermark = st.column_string(7);
  return r;
}
constexpr const char* partition_columns = "source, name, status, cursor, pages, items, updated_at, watermark";
}  // namespace

std::optional<partition_row> ledger::partition(std::string_view source, std::string_view name) {
  auto st =
      db_.prepare(fmt::format("SELECT {} FROM partitions WHERE source=? AND name=?", partition_columns));
  st.bind(1, source).bind(2, name);
  if (st.step()) return read_partition(st);
  return std::nullopt;
}

std::vector<partition_row> ledger::partitions(std::string_view source) {
  auto st =
      db_.prepare(fmt::format("SELECT {} FROM partitions WHERE source=? ORDER BY rowid", partition_columns));
  st.bind(1, source);
  std::vector<partition_row> out;
  while (st.step()) out.push_back(read_partition(st));
  return out;
}

void ledger::record_page(const page_row& page, std::string_view next_cursor, std::string_view watermark) {
  sql::transaction tx(db_);
  db_.cached(
         "INSERT OR REPLACE INTO pages(source, partition, seq, path, hash, items, bytes, cursor_after, "
         "fetched_at)"
         " VALUES(?,?,?,?,?,?,?,?,?)")
      .bind(1, page.source)
      .bind(2, page.partition)
      .bind(3, page.seq)
      .bind(4, page.path)
      .bind(5, page.hash)
      .bind(6, page.items)
      .bind(7, page.bytes)
      .bind(8, next_cursor)
      .bind(9, utc_now_iso())
      .run();
  db_.cached(
         "UPDATE partitions SET status=CASE WHEN ?1='' THEN 'done' ELSE 'fetching' END, cursor=?1,"
         " pages=(SELECT count(*) FROM pages WHERE source=?3 AND partition=?4),"
         " items=(SELECT coalesce(sum(items), 0) FROM pages WHERE source=?3 AND partition=?4),"
         " updated_at=?2, watermark=max(watermark, ?5) WHERE source=?3 AND name=?4")
      .bind(1, next_cursor)
      .bind(2, utc_now_iso())
      .bind(3, page.source)
      .bind(4, page.partition)
      .bind(5, watermark)
      .run();
  tx.commit();
}

void ledger::reopen_partition(std::string_view source, std::string_view name, std::string_view cursor) {
  db_.prepare("UPDATE partitions SET status='fetching', cursor=?, updated_at=? WHERE source=? AND name=?")
      .bind(1, cursor)
      .bind(2, utc_now_iso())
      .bind(3, source)
      .bind(4, name)
      .run();
}

void ledger::finish_partition(std::string_view source, std::string_view name) {
  db_.prepare("UPDATE partitions SET status='done', cursor='', updated_at=? WHERE source=? AND name=?")
      .bind(1, utc_now_iso())
      .bind(2, source)
      .bind(3, name)
      .run();
}

void ledger::reset_partition(std::string_view source, std::string_view name) {
  sql::transaction tx(db_);
  db_.prepare("DELETE FROM pages WHERE source=? AND partition=?").bind(1, source).bind(2, name).run();
  db_.prepare(
         "UPDATE partitions SET status='pending', cursor='', pages=0, items=0, watermark='', updated_at=?"
         " WHERE source=? AND name=?")
      .bind(1, utc_now_iso())
      .bind(2, source)
      .bind(3, name)
      .run();
  tx.commit();
}

std::vector<page_row> ledger::pages(std::string_view source, std::string_view partition,
                                    std::int64_t from_seq) {
  auto& st = db_.cached(
      "SELECT seq, path, hash, items, bytes FROM pages WHERE source=? AND partition=? AND seq>=? ORDER BY "
      "seq");
  st.bind(1, source).bind(2, partition).bind(3, from_seq);
  std::vector<page_row> out;
  while (st.step()) {
    page_row r;
    r.source = std::string(source);
    r.partition = std::string(partition);
    r.seq = st.column_int(0);
    r.path = st.column_string(1);
    r.hash = st.column_string(2);
    r.items = st.column_int(3);
    r.bytes = st.column_int(4);
    out.push_back(std::move(r));
  }
  return out;
}

std::int64_t ledger::page_count(std::string_view source) {
  return value_for<std::int64_t>(db_, "SELECT count(*) FROM pages WHERE source=?", source).value_or(0);
}

std::optional<std::vector<float>> ledger::cached_embedding(std::string_view embedder,
                                                           std::string_view text_hash) {
  if (auto whole = whole_embedding(embedder, text_hash)) return whole;
  return heal_copy(embedder, text_hash);
}

std::optional<std::vector<float>> ledger::whole_embedding(std::string_view embedder,
                                                          std::string_view text_hash) {
  auto& st =
      db_.cached("SELECT file, offset, size, checksum FROM embeddings WHERE embedder=? AND text_hash=?");
  st.bind(1, embedder_key(embedder)).bind(2, text_hash);
  std::optional<std::vector<float>> out;
  if (st.step()) out = cached_vector(st, 0, text_hash);
  st.reset();
  return out;
}

std::optional<std::vector<float>> ledger::cached_vector(sql::statement& st, int first,
                                                        std::string_view text_hash) {
  const std::int64_t file = st.column_int(first);
  const std::int64_t offset = st.column_int(first + 1);
  const std::int64_t size = st.column_int(first + 2);
  if (file <= 0 || offset < 0 || size <= 0) return std::nullopt;
  const auto bytes = static_cast<std::size_t>(size);
  const std::int64_t checksum = st.column_int(first + 3);
  if (bytes % 2 == 1) {  // compacted by gc: a half blob (half_vectors.hpp), odd-sized
    std::string half(bytes, '\0');
    if (!files_->read(file, offset, half.data(), bytes) ||
        ledger_detail::vector_checksum(text_hash, half.data(), bytes) != checksum)
      return std::nullopt;
    return ledger_detail::from_half_blob(half);
  }
  if (bytes % sizeof(float) != 0) return std::nullopt;
  std::vector<float> v(bytes / sizeof(float));
  if (!files_->read(file, offset, v.data(), bytes) ||
      ledger_detail::vector_checksum(text_hash, v.data(), bytes) != checksum)
    return std::nullopt;  // lost with a power loss, or removed: embedded again
  return v;
}

bool ledger::has_heal_copies() {
  auto& st = db_.cached("SELECT EXISTS(SELECT 1 FROM heal_copies)");
  const bool any = st.step() && st.column_int(0) != 0;
  st.reset();
  return any;
}

void ledger::store_embeddings(std::string_view embedder,
                              const std::vector<std::pair<std::string, std::vector<float>>>& vectors) {
  std::vector<embedding_ref> refs;
  refs.reserve(vectors.size());
  for (const auto& [h, v] : vectors) refs.push_back({h, v});
  store_embeddings(embedder, refs);
}

void ledger::store_embeddings(std::string_view embedder, std::span<const embedding_ref> vectors) {
  if (vectors.empty()) return;
  // The call's vectors side by side at the end of this connection's file, then their rows.
  std::vector<iovec> pieces;
  pieces.reserve(vectors.size());
  for (const auto& v : vectors)
    pieces.push_back({const_cast<float*>(v.values.data()), v.values.size_bytes()});
  const auto [file, start] = files_->append(pieces);
  // The embedder's id is made before the rows' transaction: one rolled back must not leave this
  // connection remembering an id that was never committed.
  const std::int64_t key = embedder_key(embedder, true);
  sql::transaction tx(db_);
  auto& st = db_.cached(
      "INSERT OR REPLACE INTO embeddings(embedder, text_hash, file, offset, size, checksum) "
      "VALUES(?,?,?,?,?,?)");
  std::int64_t at = start;
  for (const auto& v : vectors) {
    const std::size_t size = v.values.size_bytes();
    st.bind(1, key).bind(2, v.text_hash).bind(3, file).bind(4, at).bind(5, static_cast<std::int64_t>(size));
    st.bind(6, ledger_detail::vector_checksum(v.text_hash, v.values.data(), size));
    st.run();
    at += static_cast<std::int64_t>(size);
  }
  tx.commit();
}

std::int64_t ledger::cached_embedding_count(std::string_view embedder) {
  return value_for<std::int64_t>(db_,
                                 "SELECT count(*) FROM (SELECT text_hash FROM embeddings WHERE embedder=?1"
                                 " UNION SELECT text_hash FROM heal_copies WHERE embedder=?1)",
                                 embedder_key(embedder))
      .value_or(0);
}

}  // namespace backfill
