// Embedders by integer id: the embedding cache's rows (embeddings, heal_copies) hold the id of the
// embedder's identity (`openai:https://api.openai.com/v1:text-embedding-3-small:1536`, ...), not the
// identity itself, in tables without rowid.
#include <string>
#include <vector>

#include "backfill/core/log.hpp"
#include "backfill/ledger/ledger.hpp"
#include "value_for.hpp"
#include "vector_files.hpp"

namespace backfill {

using ledger_detail::column_type;

std::int64_t ledger::embedder_key(std::string_view embedder, bool create) {
  return identity_key(embedder_ids_, embedder, create);
}

namespace {

// The cache's tables as schema 4 made them.
constexpr const char* embeddings_schema4 =
    "CREATE TABLE embeddings(embedder INTEGER NOT NULL, text_hash TEXT NOT NULL, file INTEGER NOT NULL,"
    " offset INTEGER NOT NULL, size INTEGER NOT NULL, checksum INTEGER NOT NULL,"
    " PRIMARY KEY(embedder, text_hash)) WITHOUT ROWID";
constexpr const char* heal_copies_schema4 =
    "CREATE TABLE heal_copies(embedder INTEGER NOT NULL, text_hash TEXT NOT NULL, grp INTEGER NOT NULL,"
    " offset INTEGER NOT NULL, size INTEGER NOT NULL, PRIMARY KEY(embedder, text_hash)) WITHOUT ROWID";

}  // namespace

void ledger::migrate_to_embedder_ids() {
  // Before schema 4, `embeddings` keyed its rows by the embedder's identity (TEXT).
  if (column_type(db_, "embeddings", "embedder") != "TEXT") return;
  logger()->info("ledger {}: keying its embedding cache by integer embedder ids (schema 4), once",
                 db_.path().string());
  sql::transaction tx(db_);
  db_.exec("CREATE TABLE IF NOT EXISTS embedder_ids(id INTEGER PRIMARY KEY, identity TEXT NOT NULL UNIQUE)");
  const bool heal_copies = !column_type(db_, "heal_copies", "embedder").empty();
  db_.exec("INSERT OR IGNORE INTO embedder_ids(identity) SELECT DISTINCT embedder FROM embeddings");
  if (heal_copies)
    db_.exec("INSERT OR IGNORE INTO embedder_ids(identity) SELECT DISTINCT embedder FROM heal_copies");
  db_.exec("ALTER TABLE embeddings RENAME TO embeddings_schema3");
  db_.exec(embeddings_schema4);
  // Rows of schema 3 point into the vector files already; the oldest ledgers (before the files,
  // which added the `file` column) kept each vector in its row's `vector` blob.
  if (!column_type(db_, "embeddings_schema3", "file").empty())
    db_.exec(
        "INSERT INTO embeddings(embedder, text_hash, file, offset, size, checksum)"
        " SELECT e.id, t.text_hash, t.file, t.offset, t.size, t.checksum FROM embeddings_schema3 t"
        " JOIN embedder_ids e ON e.identity = t.embedder WHERE length(t.vector) = 0");
  // A vector kept in its row moves to the vector files as it is (float32, or a half blob gc made).
  auto in_rows = db_.prepare(
      "SELECT e.id, t.text_hash, t.vector FROM embeddings_schema3 t JOIN embedder_ids e ON e.identity = "
      "t.embedder"
      " WHERE length(t.vector) > 0");
  auto add = db_.prepare(
      "INSERT OR REPLACE INTO embeddings(embedder, text_hash, file, offset, size, checksum) "
      "VALUES(?,?,?,?,?,?)");
  std::int64_t moved = 0;
  while (in_rows.step()) {
    const std::string_view text_hash = in_rows.column_text(1);
    const std::string_view blob = in_rows.column_blob(2);
    const auto [file, at] = files_->append({iovec{const_cast<char*>(blob.data()), blob.size()}});
    add.bind(1, in_rows.column_int(0)).bind(2, text_hash).bind(3, file).bind(4, at);
    add.bind(5, static_cast<std::int64_t>(blob.size()));
    add.bind(6, ledger_detail::vector_checksum(text_hash, blob.data(), blob.size()));
    add.run();
    ++moved;
  }
  in_rows.reset();
  // The old rows go with this commit: the moved bytes must be on disk before it.
  if (moved > 0) files_->sync();
  db_.exec("DROP TABLE embeddings_schema3");
  if (heal_copies) {
    db_.exec("ALTER TABLE heal_copies RENAME TO heal_copies_schema3");
    db_.exec(heal_copies_schema4);
    db_.exec(
        "INSERT INTO heal_copies(embedder, text_hash, grp, offset, size)"
        " SELECT e.id, t.text_hash, t.grp, t.offset, t.size FROM heal_copies_schema3 t"
        " JOIN embedder_ids e ON e.identity = t.embedder");
    db_.exec("DROP TABLE heal_copies_schema3");
  }
  db_.exec("UPDATE meta SET value='4' WHERE key='schema_version'");
  tx.commit();
}

}  // namespace backfill
