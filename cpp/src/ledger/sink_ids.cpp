// Sinks by integer id: every per-sink row (documents, chunks, unsent, tombstones, baselines) holds
// the id of its sink's identity (`pinecone:http://host:port#namespace`, ...) instead of the identity.
#include <string>

#include <fmt/format.h>

#include "backfill/core/log.hpp"
#include "backfill/ledger/ledger.hpp"
#include "value_for.hpp"

namespace backfill {

std::int64_t ledger::sink_key(std::string_view sink, bool create) {
  return identity_key(sink_ids_, sink, create);
}

namespace {

// The per-sink tables of schema 1: name, the columns after `sink`, and the schema-2 definition.
struct sink_table {
  const char* name;
  const char* columns;
  const char* create;
};
constexpr sink_table sink_tables[] = {
    {"documents", "id, partition, content_hash, updated_at, complete, ingested_at",
     "CREATE TABLE documents(sink INTEGER NOT NULL, id TEXT NOT NULL, partition TEXT NOT NULL,"
     " content_hash TEXT NOT NULL, updated_at TEXT NOT NULL, complete INTEGER NOT NULL,"
     " ingested_at TEXT NOT NULL, PRIMARY KEY(sink, id)) WITHOUT ROWID"},
    {"chunks", "id, doc_id, meta_hash, live",
     "CREATE TABLE chunks(sink INTEGER NOT NULL, id TEXT NOT NULL, doc_id TEXT NOT NULL,"
     " meta_hash TEXT NOT NULL, live INTEGER NOT NULL, PRIMARY KEY(sink, id)) WITHOUT ROWID"},
    {"sinks", "baseline", "CREATE TABLE sinks(sink INTEGER PRIMARY KEY, baseline INTEGER NOT NULL)"},
    {"tombstones", "id, updated_at, deleted_at",
     "CREATE TABLE tombstones(sink INTEGER NOT NULL, id TEXT NOT NULL, updated_at TEXT NOT NULL,"
     " deleted_at TEXT NOT NULL, PRIMARY KEY(sink, id)) WITHOUT ROWID"},
    {"unsent", "id, doc_id, reason",
     "CREATE TABLE unsent(sink INTEGER NOT NULL, id TEXT NOT NULL, doc_id TEXT NOT NULL,"
     " reason TEXT NOT NULL, PRIMARY KEY(sink, id)) WITHOUT ROWID"},
};

// "a, b" -> "t.a, t.b"
std::string prefixed(std::string_view columns) {
  std::string out = "t.";
  for (char c : columns) {
    out.push_back(c);
    if (c == ' ') out += "t.";
  }
  return out;
}

}  // namespace

void ledger::migrate_to_sink_ids() {
  // Schema 1 is recognised by its documents table keying rows by the sink's identity (TEXT).
  if (ledger_detail::column_type(db_, "documents", "sink") != "TEXT") return;
  logger()->info("ledger {}: keying its sinks' rows by integer ids (schema 2), once", db_.path().string());
  sql::transaction tx(db_);
  db_.exec("CREATE TABLE IF NOT EXISTS sink_ids(id INTEGER PRIMARY KEY, identity TEXT NOT NULL UNIQUE)");
  for (const auto& t : sink_tables) {
    db_.exec(fmt::format("INSERT OR IGNORE INTO sink_ids(identity) SELECT DISTINCT sink FROM {}", t.name));
    db_.exec(fmt::format("ALTER TABLE {0} RENAME TO {0}_schema1", t.name));
    db_.exec(t.create);
    db_.exec(
        fmt::format("INSERT INTO {0}(sink, {1}) SELECT s.id, {2} FROM {0}_schema1 t"
                    " JOIN sink_ids s ON s.identity = t.sink",
                    t.name, t.columns, prefixed(t.columns)));
    db_.exec(fmt::format("DROP TABLE {}_schema1", t.name));
  }
  db_.exec("UPDATE meta SET value='2' WHERE key='schema_version'");
  tx.commit();
}

}  // namespace backfill
