// Dedup of the documents one ingest run sees: by id, the latest updated_at wins (the first on a tie),
// and a document the ledger already holds unchanged (or newer, or deleted by reconcile) is skipped.
// The ids seen go to a private scratch database, so memory stays flat for any number of documents.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "backfill/core/document.hpp"
#include "backfill/ledger/ledger.hpp"
#include "backfill/ledger/sqlite.hpp"

namespace backfill {

enum class dedup_verdict {
  write,             // new to this run, and the ledger does not hold it as it is
  write_again,       // a strictly later version of a document seen earlier in this run
  unchanged,         // the ledger holds it with the same content hash
  superseded,        // an earlier entry of this run, or the ledger, has a later (or the same) version
  deleted_upstream,  // reconcile deleted it, and this is no later version than the one deleted
};

class document_dedup {
 public:
  document_dedup(ledger& book, std::string sink_id);

  // Decides what to do with `doc` (whose content hash is `content_hash`) and remembers it.
  dedup_verdict check(const document& doc, std::string_view content_hash);

 private:
  void remember(std::string_view id, std::string_view updated_at);

  ledger& book_;
  std::string sink_id_;
  sql::database seen_;
  sql::statement get_;
  sql::statement put_;
  // The ledger held no document of the sink when this dedup began (a first ingest): while it lives,
  // documents of the sink are written only for ids it has passed (the ingest that owns it holds the
  // workdir's lock), and those it finds in its own table first, so the ledger is not asked.
  bool ledger_empty_;
  std::int64_t uncommitted_ = 0;
};

}  // namespace backfill
