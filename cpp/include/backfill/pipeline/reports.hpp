// What each phase of the pipeline reports: plain structs, bound to Python field by field.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "backfill/core/fields.hpp"
#include "backfill/ledger/ledger.hpp"
#include "backfill/pack/sanitize.hpp"
#include "backfill/sources/source.hpp"

namespace backfill {

struct plan_report {
  std::vector<partition_plan> partitions;
  std::int64_t known_done = 0;  // partitions already fetched completely
  // With estimates: the pages the token sample read, the documents the ledger holds for the sink
  // (ingested or restored from it) and the vectors in the embedding cache for the embedder.
  std::int64_t sampled_pages = 0;
  std::int64_t known_documents = 0;
  std::int64_t cached_embeddings = 0;
};
BACKFILL_FIELDS(plan_report, &s::partitions, &s::known_done, &s::sampled_pages, &s::known_documents,
                &s::cached_embeddings)

struct fetch_report {
  std::int64_t partitions = 0;
  std::int64_t partitions_skipped = 0;  // already complete
  std::int64_t pages_fetched = 0;       // read from the source by this call
  std::int64_t pages_total = 0;         // journaled, after this call
  std::int64_t items_fetched = 0;
  std::int64_t bytes_fetched = 0;
  std::int64_t memory_peak_bytes = 0;  // the most bytes of fetched pages held at once (memory_budget_mb)
  // Beside an ingest that was behind: the seconds partitions waited before a request until it needed
  // their pages, summed over the partitions (pipeline/fetch.cpp).
  double waited_for_ingest = 0;
};
BACKFILL_FIELDS(fetch_report, &s::partitions, &s::partitions_skipped, &s::pages_fetched, &s::pages_total,
                &s::items_fetched, &s::bytes_fetched, &s::memory_peak_bytes, &s::waited_for_ingest)

struct duplicate_item {
  std::string partition;
  std::string id;
  std::vector<std::string> pages;  // journal paths, relative to the workdir
};
BACKFILL_FIELDS(duplicate_item, &s::partition, &s::id, &s::pages)

struct bad_page {
  std::string partition;
  std::string path;  // relative to the workdir
  std::string problem;
};
BACKFILL_FIELDS(bad_page, &s::partition, &s::path, &s::problem)

struct validate_report {
  std::int64_t partitions = 0;
  std::int64_t pages = 0;
  std::int64_t items = 0;
  std::int64_t duplicate_ids = 0;          // distinct ids seen on more than one place
  std::vector<duplicate_item> duplicates;  // the first max_examples of them, with evidence
  std::vector<bad_page> bad_pages;
  std::int64_t unfetched_partitions = 0;
  // Items the normalizer cannot read (the pages that hold them are otherwise read): those found
  // here, and those the last ingest quarantined (a field it needs missing), the first max_examples.
  std::int64_t quarantined_count = 0;
  std::vector<quarantined_item> quarantined;
};
BACKFILL_FIELDS(validate_report, &s::partitions, &s::pages, &s::items, &s::duplicate_ids, &s::duplicates,
                &s::bad_pages, &s::unfetched_partitions, &s::quarantined_count, &s::quarantined)

struct ingest_report {
  std::int64_t documents_seen = 0;
  std::int64_t documents_unchanged = 0;         // same content hash: skipped entirely
  std::int64_t documents_superseded = 0;        // an entry with the same id and a later updated_at won
  std::int64_t documents_deleted_upstream = 0;  // reconcile found them gone from the source: not brought back
  std::int64_t documents_written = 0;
  std::int64_t chunks_written = 0;
  std::int64_t chunks_embedded = 0;  // texts sent to the embedder
  std::int64_t tokens_embedded = 0;  // their tokens, as billed_tokens estimates them
  std::int64_t embedding_cache_hits = 0;
  std::int64_t embed_calls = 0;
  std::int64_t stale_chunks_deleted = 0;
  std::int64_t upsert_requests = 0;      // upsert calls into the sink (a sink may split each into requests)
  sanitize_report metadata;              // what the sink's metadata limits changed, per field
  std::int64_t records_skipped = 0;      // records that could not be made to fit the sink at all
  std::vector<std::string> skipped_ids;  // the first max_examples of them
  // Every record left unsent after this ingest (this one's and earlier ones' not yet sent), with the
  // reason, the first max_examples: their documents stay pending and verification fails until sent.
  std::vector<unsent_record> unsent;
  // Values the source's normalizer could not read and left out of the documents (a field of a shape
  // it does not know), and one example of each of the first max_examples kinds.
  std::int64_t warnings = 0;
  std::vector<std::string> warning_examples;
  // Seconds requests waited for an API's quota during the phase, per quota ("openai tokens").
  std::map<std::string, double> waits;
  // Where the phase's time went, in seconds: "read and normalize" (the journal, dedup and record
  // building on the calling thread), "waiting for the fetch" (an overlapped run's ingest waiting for
  // pages), "embed" (embed calls, summed over the workers, quota waits included), "upsert" (writing
  // batches to the sink and the ledger), "held by embed and upsert" (the calling thread blocked
  // while the batches in flight were full).
  std::map<std::string, double> stage_seconds;
  // Items of the journal that could not be read and were left out (pipeline_options::strict off),
  // the first max_examples: the run fails until the source fixes them (their partitions are fetched
  // again on the next run).
  std::int64_t quarantined_count = 0;
  std::vector<quarantined_item> quarantined;
  // The most bytes the run's stages held at once (pipeline_options::memory_budget_mb), the pages
  // of a fetch running beside the ingest included.
  std::int64_t memory_peak_bytes = 0;
};
BACKFILL_FIELDS(ingest_report, &s::documents_seen, &s::documents_unchanged, &s::documents_superseded,
                &s::documents_deleted_upstream, &s::documents_written, &s::chunks_written,
                &s::chunks_embedded, &s::tokens_embedded, &s::embedding_cache_hits, &s::embed_calls,
                &s::stale_chunks_deleted, &s::upsert_requests, &s::metadata, &s::records_skipped,
                &s::skipped_ids, &s::unsent, &s::warnings, &s::warning_examples, &s::waits, &s::stage_seconds,
                &s::quarantined_count, &s::quarantined, &s::memory_peak_bytes)

struct reconcile_report {
  std::int64_t listed = 0;             // ids the source holds now
  std::int64_t documents = 0;          // documents the ledger had for the sink
  std::int64_t documents_deleted = 0;  // gone from the source: deleted from the sink and the ledger
  std::int64_t chunks_deleted = 0;
  std::vector<std::string> deleted;  // the first max_examples
};
BACKFILL_FIELDS(reconcile_report, &s::listed, &s::documents, &s::documents_deleted, &s::chunks_deleted,
                &s::deleted)

struct verify_report {
  bool ok = false;
  std::string sink;
  std::int64_t expected_count = 0;  // baseline + live chunks
  std::int64_t observed_count = 0;
  std::int64_t baseline = 0;
  bool count_ok = false;
  double count_wait_seconds = 0;
  std::int64_t checked = 0;  // ids fetched back
  bool sampled = false;
  std::int64_t missing_count = 0;
  std::int64_t mismatched_count = 0;
  std::vector<std::string> missing;     // the first max_examples
  std::vector<std::string> mismatched;  // the first max_examples
  std::int64_t documents = 0;
  std::map<std::string, std::string> sink_info;  // e.g. Pinecone's last write LSN
  // What decides: "count and ids" (the namespace holds only this backfill's records: the count must
  // be baseline + live chunks, and every id must be there) or "ids" (other writers' records were
  // there first: every id this backfill owns must be there; the count is only reported).
  std::string criterion;
  std::int64_t unsent_count = 0;  // records never sent (see ingest_report::unsent): not verified
  std::vector<unsent_record> unsent;
  // Records found missing or altered whose documents were marked pending in the ledger: the next
  // ingest writes those documents again (vectors from the embedding cache); `verify --repair` at once.
  std::int64_t marked_pending = 0;
  // Items of the source that could not be read and were left out (ingest_report::quarantined): while
  // any is left, the backfill is not verified.
  std::int64_t quarantined_count = 0;
  std::vector<quarantined_item> quarantined;
};
BACKFILL_FIELDS(verify_report, &s::ok, &s::sink, &s::expected_count, &s::observed_count, &s::baseline,
                &s::count_ok, &s::count_wait_seconds, &s::checked, &s::sampled, &s::missing_count,
                &s::mismatched_count, &s::missing, &s::mismatched, &s::documents, &s::sink_info,
                &s::criterion, &s::unsent_count, &s::unsent, &s::marked_pending, &s::quarantined_count,
                &s::quarantined)

// What the workdir takes on disk, by part (file sizes, in bytes).
struct workdir_usage {
  std::int64_t journal = 0;  // journal/: the pages
  std::int64_t ledger = 0;   // state.sqlite and its WAL, without the embedding cache
  std::int64_t cache = 0;    // the embedding cache: its share of state.sqlite and its files, vectors/
  std::int64_t other = 0;    // receipts, progress samples, a local index kept there, temp files
  std::int64_t total = 0;
};
BACKFILL_FIELDS(workdir_usage, &s::journal, &s::ledger, &s::cache, &s::other, &s::total)

struct status_report {
  std::vector<partition_row> partitions;
  std::int64_t pages = 0;
  std::int64_t documents = 0;
  std::int64_t live_chunks = 0;
  std::int64_t cached_embeddings = 0;
  workdir_usage disk;
};
BACKFILL_FIELDS(status_report, &s::partitions, &s::pages, &s::documents, &s::live_chunks,
                &s::cached_embeddings, &s::disk)

// What `backfill gc` removed: what a verified run no longer needs.
struct gc_report {
  workdir_usage before;
  workdir_usage after;
  std::int64_t freed = 0;               // before.total - after.total
  std::int64_t embeddings_removed = 0;  // the embedding cache, once the sink holds and verified them
  // With keep_embeddings, the verified cache is kept in half precision instead: how many were rewritten.
  std::int64_t embeddings_compacted = 0;
  // Why the cache was kept ("" when it was removed or empty): not verified since the last change,
  // or keep_embeddings.
  std::string cache_kept;
  std::int64_t orphan_files_removed = 0;  // journal and vector files no ledger row names (a killed run's)
};
BACKFILL_FIELDS(gc_report, &s::before, &s::after, &s::freed, &s::embeddings_removed, &s::embeddings_compacted,
                &s::cache_kept, &s::orphan_files_removed)

struct run_report {
  fetch_report fetch;
  ingest_report ingest;
};
BACKFILL_FIELDS(run_report, &s::fetch, &s::ingest)

}  // namespace backfill
