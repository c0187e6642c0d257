// The write step of the ingest: a batch whose vectors are all there goes to the sink, and then to the
// ledger. In order: (1, before any embedding) the intent, the chunk ids about to be written;
// (2) the upserts, each acknowledged in full; (3) deletes of the chunks a changed document no longer
// has; (4) the documents committed with their chunks, in one transaction. A crash between any two
// leaves only ids the ledger knows about, and the next run writes the batch again.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_set>
#include <vector>

#include "backfill/ingest/batch.hpp"
#include "backfill/ledger/ledger.hpp"
#include "backfill/pipeline/reports.hpp"
#include "backfill/sinks/sink.hpp"

namespace backfill {

// Step 1: records the chunk ids of `b` as pending, so no crash can leave an id the ledger does not know.
void record_intent(ledger& book, std::string_view sink_id, const batch& b);

// Steps 2 to 4. Used by one thread at a time (the ingest's writer); batches are written in the order
// given, so a later version of a record is never overwritten by an earlier one.
class batch_writer {
 public:
  // `embedder_id`: whose vectors the records' metadata must name for a vector of the sink to stand
  // for a heal copy's ("": heal copies are written as they are).
  batch_writer(sink& snk, std::size_t max_examples, std::string embedder_id = {});

  // Writes `b`, whose records' metadata it hands to the sink (moved out: the batch is done after).
  void write(batch& b, ledger& book);

  // Adds what was written (and what the sink refused) to `report`.
  void merge_into(ingest_report& report);

 private:
  // Sends `records` as upserts of at most max_batch() records (the sink's contract for one call),
  // one after another. Throws sink_error when the sink acknowledges fewer than it was given.
  void upsert(std::vector<record>& records);
  void skip(const std::string& id, std::string_view why);
  // Replaces the vectors of `b` that came from heal copies by the whole ones the sink still holds
  // for the same texts in the documents' records (fetched by the ids the ledger knows for them).
  void take_whole_vectors(const batch& b, ledger& book);

  sink& sink_;
  std::string sink_id_;
  std::size_t max_examples_;
  std::string embedder_id_;
  std::int64_t chunks_written_ = 0;
  std::int64_t stale_chunks_deleted_ = 0;
  std::int64_t upsert_requests_ = 0;
  std::int64_t documents_written_ = 0;
  std::int64_t records_skipped_ = 0;
  std::int64_t vectors_from_sink_ = 0;
  std::vector<std::string> skipped_ids_;
  std::unordered_set<std::string> refused_;  // ids the sink would not send: never recorded as live
};

}  // namespace backfill
