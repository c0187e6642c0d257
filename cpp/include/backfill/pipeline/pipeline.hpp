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

#include "backfill/core/context.hpp"
#include "backfill/core/fields.hpp"
#include "backfill/core/memory_budget.hpp"
#include "backfill/embed/embedder.hpp"
#include "backfill/ingest/chunker.hpp"
#include "backfill/journal/journal.hpp"
#include "backfill/ledger/ledger.hpp"
#include "backfill/pipeline/reports.hpp"
#include "backfill/sinks/sink.hpp"
#include "backfill/sources/source.hpp"

namespace backfill {

struct pipeline_options {
  std::filesystem::path workdir;
  chunker_options chunking;
  std::size_t batch_records = 1000;   // chunks per embed/upsert round
  std::size_t max_examples = 50;      // ids listed in reports
  double count_timeout_seconds = 60;  // how long verify waits for a lagging count
  double count_poll_seconds = 0.5;
  // Fetch, normalize, embed and upsert run concurrently through bounded hand-offs. Off: one after
  // another, each batch embedded then upserted (for comparison and debugging).
  bool overlap = true;
  std::size_t fetch_concurrency = 4;  // partitions fetched at once
  std::size_t embed_concurrency = 0;  // embed calls in flight; 0 = the embedder's concurrency()
  std::size_t batches_in_flight = 0;  // batches between normalizing and committing; 0 = embed calls + 2
  // The bytes the run's stages hold at once at most, in MB (core/memory_budget.hpp): fetched pages
  // until journaled, batches of records from building to written (a batch is closed early when its
  // share is full). 0: counts alone bound them (batch_records, batches_in_flight).
  std::size_t memory_budget_mb = 128;
  // An item the normalizer cannot read stops its partition (instead of being quarantined: left out,
  // listed, the run failed, the partition fetched again next time).
  bool strict = false;
  // Rebuild the ledger's documents, chunks and embedding cache from the sink before ingesting, even
  // when the workdir has state (pipeline/restore.hpp; a workdir without any is rebuilt anyway).
  bool restore = false;
  // Pages `backfill plan` reads (into memory, up to 3 per partition) to estimate the tokens per item
  // through the normalizer and the chunker; 0: no sample, no token estimate.
  std::size_t plan_sample_pages = 40;
};
BACKFILL_FIELDS(pipeline_options, &s::workdir, &s::chunking, &s::batch_records, &s::max_examples,
                &s::count_timeout_seconds, &s::count_poll_seconds, &s::overlap, &s::fetch_concurrency,
                &s::embed_concurrency, &s::batches_in_flight, &s::memory_budget_mb, &s::strict, &s::restore,
                &s::plan_sample_pages)

class fetch_feed;
class page_scan;

class pipeline {
 public:
  pipeline(std::shared_ptr<source> src, std::shared_ptr<embedder> emb, std::shared_ptr<sink> snk,
           pipeline_options options);
  ~pipeline();

  plan_report plan(run_context& ctx);
  // The plan with the source's estimates of each partition's full fetch (source::estimate): what
  // `backfill plan` shows.
  plan_report plan_with_estimates(run_context& ctx);
  // `refetch`: partitions to fetch again from the start (their old pages are replaced).
  fetch_report fetch(run_context& ctx, const std::vector<std::string>& refetch = {});
  validate_report validate(run_context& ctx);
  ingest_report ingest(run_context& ctx);
  // fetch, then ingest; with options.overlap, the ingest follows the fetch as pages arrive. With
  // `validate_next` (a run's), the ingest keeps the item ids of the pages it reads for the validate
  // that follows, which then reads only the pages the ingest did not.
  run_report fetch_and_ingest(run_context& ctx, const std::vector<std::string>& refetch = {},
                              bool validate_next = false);
  // Deletes from the sink (and the ledger) the documents the source no longer holds. Refuses, with
  // nothing deleted, when that would be more than `max_fraction` of the documents: an empty listing
  // after a permission change must not wipe an index.
  reconcile_report reconcile(run_context& ctx, double max_fraction = 0.5);
  // `sample` > 0 fetches back a random sample of that many ids instead of all of them.
  verify_report verify(run_context& ctx, std::int64_t sample = 0);
  status_report status();
  // Removes what a verified run no longer needs (pipeline/workdir_gc.cpp): the embedding cache (and
  // its heal copies) once a full verification passed and nothing changed since (unless
  // `keep_embeddings`), journal files no ledger row names, the ledger's free pages.
  gc_report gc(bool keep_embeddings = false);
  // What `run` does after its verification (pipeline/workdir_gc.cpp): when a full verification
  // passed and nothing changed since, the cached vectors, which the sink now holds, give way to their
  // heal copies (one byte a component), and the ledger's file shrinks to what it holds. Returns how
  // many vectors were replaced (0 when not verified as is, or with `keep_embeddings`: kept whole).
  std::int64_t evict_verified_embeddings(bool keep_embeddings);
  std::vector<query_match> query(std::string_view text, std::size_t top_k);

  const pipeline_options& options() const noexcept { return options_; }
  ledger& state() noexcept { return *ledger_; }

 private:
  // Partitions to fetch from the start: `refetch`, and those with quarantined items (unless the source
  // can ask for those items alone: source::requery_cursor).
  void start_over(const plan_report& planned, const std::vector<std::string>& refetch);
  fetch_report fetch_planned(run_context& ctx, const plan_report& planned, ledger& book, fetch_feed* feed);
  void check_sink_before_ingest(run_context& ctx);
  // Throws config_error when the sink's settings let no record be sent at all (sink::unsendable_reason).
  void refuse_unsendable_settings();
  void open_workdir();
  ingest_report ingest_from(run_context& ctx, fetch_feed* feed, const std::vector<partition_plan>& order,
                            bool validate_next = false);
  std::shared_ptr<source> source_;
  std::shared_ptr<embedder> embedder_;
  std::shared_ptr<sink> sink_;
  pipeline_options options_;
  journal journal_;
  std::unique_ptr<ledger> ledger_;
  memory_budget budget_;
  std::size_t kept_share_ = 0;  // of budget_, set aside for idle page-sized buffers (core/kept_buffers.hpp)
  std::unique_ptr<page_scan> scanned_;  // the pages the last ingest read, for the validate next
};

}  // namespace backfill
