#include "backfill/ingest/dedup.hpp"

#include <optional>

namespace backfill {
namespace {

sql::database& with_seen_table(sql::database& db) {
  db.exec(
      "PRAGMA journal_mode=OFF; PRAGMA synchronous=OFF;"
      "CREATE TABLE seen(id TEXT PRIMARY KEY, updated_at TEXT NOT NULL) WITHOUT ROWID; BEGIN");
  return db;
}

}  // namespace

document_dedup::document_dedup(ledger& book, std::string sink_id)
    : book_(book),
      sink_id_(std::move(sink_id)),
      seen_("", "ingest scratch database"),
      get_(with_seen_table(seen_).prepare("SELECT updated_at FROM seen WHERE id=?")),
      put_(seen_.prepare("INSERT OR REPLACE INTO seen(id, updated_at) VALUES(?,?)")),
      ledger_empty_(!book_.holds_documents(sink_id_)) {}

void document_dedup::remember(std::string_view id, std::string_view updated_at) {
  put_.bind(1, id).bind(2, updated_at);
  put_.run();
}

dedup_verdict document_dedup::check(const document& doc, std::string_view content_hash) {
  get_.bind(1, doc.id);
  std::optional<std::string> seen_at;
  if (get_.step()) seen_at = get_.column_string(0);
  get_.reset();

  dedup_verdict verdict = dedup_verdict::write;
  if (seen_at) {
    // The same id earlier in this run: a strictly later version replaces it, anything else loses.
    if (!(doc.updated_at > *seen_at)) return dedup_verdict::superseded;
    verdict = dedup_verdict::write_again;
  } else if (!ledger_empty_) {
    auto [stored, gone] = book_.lookup_document(sink_id_, doc.id);
    if (stored && stored->complete && stored->content_hash == content_hash) {
      remember(doc.id, doc.updated_at);
      return dedup_verdict::unchanged;
    }
    if (stored && stored->complete && doc.updated_at < stored->updated_at) {
      remember(doc.id, stored->updated_at);
      return dedup_verdict::superseded;
    }
    if (!stored) {
      // Reconcile deleted it: only a later version than the one it deleted comes back.
      if (gone && !(doc.updated_at > *gone)) {
        remember(doc.id, *gone);
        return dedup_verdict::deleted_upstream;
      }
    }
  }
  remember(doc.id, doc.updated_at);
  if (++uncommitted_ >= 10000) {
    seen_.exec("COMMIT; BEGIN");
    uncommitted_ = 0;
  }
  return verdict;
}

}  // namespace backfill
