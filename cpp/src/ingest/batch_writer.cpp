#include "backfill/ingest/batch_writer.hpp"

#include <algorithm>
#include <iterator>
#include <unordered_map>

#include <fmt/format.h>

#include "backfill/core/errors.hpp"
#include "backfill/core/failpoint.hpp"
#include "backfill/core/log.hpp"
#include "backfill/ingest/record_builder.hpp"

namespace backfill {

void record_intent(ledger& book, std::string_view sink_id, const batch& b) {
  sql::transaction tx(book.db());
  for (const auto& d : b.docs) {
    std::vector<chunk_row> rows;
    rows.reserve(d.chunks.size());
    for (const auto& pc : d.chunks) rows.push_back({pc.c.id, pc.meta_hash});
    book.begin_document(sink_id, d.id, rows);
  }
  tx.commit();
}

batch_writer::batch_writer(sink& snk, std::size_t max_examples, std::string embedder_id)
    : sink_(snk),
      sink_id_(snk.identity()),
      max_examples_(max_examples),
      embedder_id_(std::move(embedder_id)) {}

// A heal copy stands for a vector the sink held when a run was verified. Where the sink still holds
// it (a document written again for a record it lost, or for an edit that left chunk texts as they
// were), the vector is taken back whole, as embedded; only what the sink lost keeps its copy.
void batch_writer::take_whole_vectors(const batch& b, ledger& book) {
  std::unordered_map<std::string_view, vector_slot*> wanted;  // text hash -> a slot with a heal copy
  std::vector<std::string> ids;
  for (const auto& d : b.docs) {
    const std::size_t before = wanted.size();
    for (const auto& pc : d.chunks)
      if (b.slots[pc.slot]->from_heal_copy) wanted.emplace(pc.c.text_hash, b.slots[pc.slot].get());
    if (wanted.size() == before) continue;
    auto held = book.stale_chunks(sink_id_, d.id, {});  // every id the ledger knows for the document
    ids.insert(ids.end(), std::make_move_iterator(held.begin()), std::make_move_iterator(held.end()));
  }
  if (wanted.empty()) return;
  constexpr std::size_t per_fetch = 100;
  for (std::size_t first = 0; first < ids.size(); first += per_fetch) {
    std::vector<std::string> part(
        ids.begin() + static_cast<std::ptrdiff_t>(first),
        ids.begin() + static_cast<std::ptrdiff_t>(std::min(ids.size(), first + per_fetch)));
    std::vector<fetched_record> found;
    try {
      found = sink_.fetch(part);
    } catch (const sink_error& e) {
      logger()->warn("{} cannot give vectors back ({}); the heal copies are written instead",
                     sink_.describe(), e.what());
      return;
    }
    for (auto& rec : found) {
      auto it = wanted.find(reusable_text_hash(rec.metadata_json, embedder_id_));
      if (it == wanted.end() || !it->second->from_heal_copy || rec.values.size() != it->second->values.size())
        continue;
      it->second->values = std::move(rec.values);
      it->second->from_heal_copy = false;
      ++vectors_from_sink_;
    }
  }
}

namespace {
constexpr std::string_view refused_reason = "it is larger than the sink's request limit even alone";
}  // namespace

void batch_writer::skip(const std::string& id, std::string_view why) {
  ++records_skipped_;
  if (skipped_ids_.size() < max_examples_) skipped_ids_.push_back(id);
  logger()->error("record {} was skipped: {}", id, why);
}

// The only place the ingest cuts records by count. The sink packs each call into requests by count
// and bytes itself, and keeps several of them in flight when it can (Pinecone's max_batch() is its
// records per request times its requests in flight), so one call at a time is enough here, and it
// keeps the writes in batch order.
void batch_writer::upsert(std::vector<record>& records) {
  if (records.empty()) return;
  std::int64_t acked = sink_.upsert(records);
  ++upsert_requests_;
  std::int64_t not_sent = 0;
  for (auto& id : sink_.take_unsendable()) {
    skip(id, refused_reason);
    refused_.insert(std::move(id));
    ++not_sent;  // accounted for: reported, never recorded as live
  }
  acked += not_sent;
  if (acked != static_cast<std::int64_t>(records.size())) {
    std::string ids;
    for (std::size_t k = 0; k < records.size() && k < 20; ++k) ids += (k ? ", " : "") + records[k].id;
    throw sink_error(fmt::format("{} acknowledged {} of {} records; the batch held {}{}", sink_.describe(),
                                 acked, records.size(), ids, records.size() > 20 ? ", ..." : ""));
  }
  chunks_written_ += acked - not_sent;
  records.clear();
}

void batch_writer::write(batch& b, ledger& book) {
  if (!embedder_id_.empty()) take_whole_vectors(b, book);
  // 2. Upserts.
  std::vector<record> records;
  const std::size_t max_records = std::max<std::size_t>(1, sink_.max_batch());
  for (auto& d : b.docs) {
    for (auto& pc : d.chunks) {
      // A vector is copied: its slot may serve other batches' chunks (embed_plan.cpp).
      records.push_back({pc.c.id, b.slots[pc.slot]->values, std::move(pc.metadata_json)});
      if (records.size() >= max_records) upsert(records);
    }
  }
  upsert(records);
  failpoint("ingest.batch_upserted");
  // 3. Chunks the documents no longer have: looked up under one snapshot, then deleted.
  std::vector<std::vector<std::string>> stale(b.docs.size());
  {
    sql::read_snapshot snapshot(book.db());
    for (std::size_t i = 0; i < b.docs.size(); ++i) {
      std::vector<std::string> keep;
      keep.reserve(b.docs[i].chunks.size());
      for (const auto& pc : b.docs[i].chunks) keep.push_back(pc.c.id);
      stale[i] = book.stale_chunks(sink_id_, b.docs[i].id, keep);
    }
    snapshot.end();
  }
  for (const auto& ids : stale) {
    if (ids.empty()) continue;
    sink_.remove(ids);
    stale_chunks_deleted_ += static_cast<std::int64_t>(ids.size());
  }
  // 4. The documents, committed.
  {
    sql::transaction tx(book.db());
    for (const auto& d : b.docs) {
      std::vector<chunk_row> rows;
      std::vector<unsent_record> unsent = d.unsent;
      rows.reserve(d.chunks.size());
      for (const auto& pc : d.chunks) {
        if (refused_.count(pc.c.id))
          unsent.push_back({pc.c.id, std::string(refused_reason)});
        else
          rows.push_back({pc.c.id, pc.meta_hash});
      }
      book.commit_document(sink_id_, d.id, d.partition, d.content_hash, d.updated_at, rows, unsent);
    }
    tx.commit();
  }
  failpoint("ingest.batch_committed");
  documents_written_ += static_cast<std::int64_t>(b.docs.size());
}

void batch_writer::merge_into(ingest_report& report) {
  report.chunks_written += chunks_written_;
  report.stale_chunks_deleted += stale_chunks_deleted_;
  report.upsert_requests += upsert_requests_;
  report.documents_written += documents_written_;
  report.records_skipped += records_skipped_;
  if (vectors_from_sink_ > 0)
    logger()->info("{} vectors of unchanged texts were read back whole from {} in place of their heal copies",
                   vectors_from_sink_, sink_.describe());
  vectors_from_sink_ = 0;
  for (auto& id : skipped_ids_)
    if (report.skipped_ids.size() < max_examples_) report.skipped_ids.push_back(std::move(id));
  skipped_ids_.clear();
}

}  // namespace backfill
