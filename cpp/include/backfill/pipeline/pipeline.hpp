// The pipeline: plan -> fetch -> validate -> ingest -> verify, each phase idempotent and resumable.
// It owns the workdir layout:
//   <workdir>/journal/<source>/<partition>/<seq>.json   raw pages (see journal/journal.hpp)
//   <workdir>/state.sqlite                               the ledger (see ledger/ledger.hpp)
//   <workdir>/receipts/                                  verification receipts (written by the caller)
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "backfill/ingest/chunker.hpp"
#include "backfill/core/context.hpp"
#include "backfill/embed/embedder.hpp"
#include "backfill/journal/journal.hpp"
#include "backfill/ledger/ledger.hpp"
#include "backfill/pack/sanitize.hpp"
#include "backfill/sinks/sink.hpp"
#include "backfill/sources/source.hpp"

namespace backfill {

struct plan_report {
  std::vector<partition_plan> partitions;
  std::int64_t known_done = 0;  // partitions already fetched completely
};

struct fetch_report {
  std::int64_t partitions = 0;
  std::int64_t partitions_skipped = 0;  // already complete
  std::int64_t pages_fetched = 0;       // read from the source by this call
  std::int64_t pages_total = 0;         // journaled, after this call
  std::int64_t items_fetched = 0;
  std::int64_t bytes_fetched = 0;
};

struct duplicate_item {
  std::string partition;
  std::string id;
  std::vector<std::string> pages;  // journal paths, relative to the workdir
};

struct bad_page {
  std::string partition;
  std::string path;  // relative to the workdir
  std::string problem;
};

struct validate_report {
  std::int64_t partitions = 0;
  std::int64_t pages = 0;
  std::int64_t items = 0;
  std::int64_t duplicate_ids = 0;                // distinct ids seen on more than one place
  std::vector<duplicate_item> duplicates;        // the first max_examples of them, with evidence
  std::vector<bad_page> bad_pages;
  std::int64_t unfetched_partitions = 0;
};

struct ingest_report {
  std::int64_t documents_seen = 0;
  std::int64_t documents_unchanged = 0;  // same content hash: skipped entirely
  std::int64_t documents_superseded = 0;  // an entry with the same id and a later updated_at won
  std::int64_t documents_deleted_upstream = 0;  // reconcile found them gone from the source: not brought back
  std::int64_t documents_written = 0;
  std::int64_t chunks_written = 0;
  std::int64_t chunks_embedded = 0;       // texts sent to the embedder
  std::int64_t embedding_cache_hits = 0;
  std::int64_t embed_calls = 0;
  std::int64_t stale_chunks_deleted = 0;
  std::int64_t upsert_requests = 0;  // upsert calls into the sink (a sink may split each into requests)
  sanitize_report metadata;          // what the sink's metadata limits changed, per field
  std::int64_t records_skipped = 0;  // records that could not be made to fit the sink at all
  std::vector<std::string> skipped_ids;  // the first max_examples of them
};

struct reconcile_report {
  std::int64_t listed = 0;             // ids the source holds now
  std::int64_t documents = 0;          // documents the ledger had for the sink
  std::int64_t documents_deleted = 0;  // gone from the source: deleted from the sink and the ledger
  std::int64_t chunks_deleted = 0;
  std::vector<std::string> deleted;    // the first max_examples
};

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
};

struct status_report {
  std::vector<partition_row> partitions;
  std::int64_t pages = 0;
  std::int64_t documents = 0;
  std::int64_t live_chunks = 0;
  std::int64_t cached_embeddings = 0;
};

struct run_report {
  fetch_report fetch;
  ingest_report ingest;
};

struct pipeline_options {
  std::filesystem::path workdir;
  chunker_options chunking;
  std::size_t batch_records = 1000;  // chunks per embed/upsert round
  std::size_t max_examples = 50;     // ids listed in reports
  double count_timeout_seconds = 60;  // how long verify waits for a lagging count
  double count_poll_seconds = 0.5;
  // Fetch, normalize, embed and upsert run concurrently through bounded hand-offs. Off: one after
  // another, each batch embedded then upserted (for comparison and debugging).
  bool overlap = true;
  std::size_t fetch_concurrency = 4;  // partitions fetched at once
  std::size_t embed_concurrency = 0;  // embed calls in flight; 0 = the embedder's concurrency()
  std::size_t batches_in_flight = 0;  // batches between normalizing and committing; 0 = embed calls + 2
};

namespace detail {
class fetch_feed;
}

class pipeline {
 public:
  pipeline(std::shared_ptr<source> src, std::shared_ptr<embedder> emb, std::shared_ptr<sink> snk,
           pipeline_options options);
  ~pipeline();

  plan_report plan(run_context& ctx);
  // `refetch`: partitions to fetch again from the start (their old pages are replaced).
  fetch_report fetch(run_context& ctx, const std::vector<std::string>& refetch = {});
  validate_report validate(run_context& ctx);
  ingest_report ingest(run_context& ctx);
  // fetch, then ingest; with options.overlap, the ingest follows the fetch as pages arrive.
  run_report fetch_and_ingest(run_context& ctx, const std::vector<std::string>& refetch = {});
  // Deletes from the sink (and the ledger) the documents the source no longer holds. Refuses, with
  // nothing deleted, when that would be more than `max_fraction` of the documents: an empty listing
  // after a permission change must not wipe an index.
  reconcile_report reconcile(run_context& ctx, double max_fraction = 0.5);
  // `sample` > 0 fetches back a random sample of that many ids instead of all of them.
  verify_report verify(run_context& ctx, std::int64_t sample = 0);
  status_report status();
  std::vector<query_match> query(std::string_view text, std::size_t top_k);

  const pipeline_options& options() const noexcept { return options_; }
  ledger& state() noexcept { return *ledger_; }

 private:
  class ingest_stages;
  friend class ingest_stages;
  fetch_report fetch_planned(run_context& ctx, const plan_report& planned, const std::vector<std::string>& refetch,
                             ledger& book, detail::fetch_feed* feed);
  ingest_report ingest_from(run_context& ctx, detail::fetch_feed* feed, const std::vector<partition_plan>& order);
  std::shared_ptr<source> source_;
  std::shared_ptr<embedder> embedder_;
  std::shared_ptr<sink> sink_;
  pipeline_options options_;
  journal journal_;
  std::unique_ptr<ledger> ledger_;
};

}  // namespace backfill
