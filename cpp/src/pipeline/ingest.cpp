// The ingest phase, as the data flows: journal pages -> documents (the source normalizes) -> dedup
// -> records (chunk, metadata, fitted to the sink) -> batches -> intent in the ledger -> embed plan
// (cache first) -> the stages that embed and write, overlapping (ingest/stages.hpp).
#include <algorithm>
#include <chrono>
#include <memory>
#include <string>
#include <unordered_set>

#include <fmt/format.h>
#if defined(__GLIBC__)
#include <malloc.h>
#endif

#include "backfill/core/errors.hpp"
#include "backfill/core/log.hpp"
#include "backfill/core/padded_json.hpp"
#include "backfill/http/quota.hpp"
#include "backfill/ingest/batch_writer.hpp"
#include "backfill/ingest/dedup.hpp"
#include "backfill/ingest/embed_plan.hpp"
#include "backfill/ingest/record_builder.hpp"
#include "backfill/ingest/stages.hpp"
#include "backfill/journal/fetch_feed.hpp"
#include "backfill/journal/journal_pages.hpp"
#include "backfill/pipeline/pipeline.hpp"
#include "backfill/pipeline/restore.hpp"
#include "pipeline/page_scan.hpp"
#include "pipeline/quarantine_keeper.hpp"

namespace backfill {

ingest_report pipeline::ingest(run_context& ctx) { return ingest_from(ctx, nullptr, {}); }

namespace {

// The smallest record backfill would write: an id of a usual length, the embedder's dimension (each
// value as wide as a real one), and the metadata every record carries whatever the document.
record probe_record(const std::string& source_kind, const embedder& emb) {
  record r;
  r.id = source_kind + ":" + std::string(40, 'x') + "#0";
  r.values.assign(static_cast<std::size_t>(std::max(emb.dimension(), 1)), -0.123456789f);
  metadata m;
  m.set("doc_id", r.id.substr(0, r.id.size() - 2));
  m.set("source", source_kind);
  m.set("chunk", 0.0);
  m.set(std::string(doc_hash_key), std::string(64, '0'));
  m.set(std::string(text_hash_key), std::string(64, '0'));
  m.set(std::string(embedder_key), emb.identity());
  m.set(std::string(source_kind_key), source_kind);
  m.set(std::string(chunk_count_key), 1.0);
  r.metadata_json = m.to_json();
  return r;
}

// glibc returns what its arenas free only from their tops: blocks freed between live ones stay
// resident, and every thread but the main one allocates from one arena (pipeline.cpp sets
// M_ARENA_MAX): its resident size follows the most its threads ever held at once, which a longer
// run reaches more often. malloc_trim gives the free pages of every arena back to the system.
// Every 16 journal pages (about 1,600 Jira issues, a second or more of work) it is 0.01 % of a
// run's CPU samples (perf, 1M issues). It does not lower a run's peak RSS, which comes while the
// fetch's partitions run beside the ingest (bench/findings.md).
constexpr std::int64_t kTrimEvery = 16;

void give_back_free_memory() {
#if defined(__GLIBC__)
  malloc_trim(0);
#endif
}

}  // namespace

void pipeline::refuse_unsendable_settings() {
  if (!sink_ || !embedder_) return;
  if (std::string why = sink_->unsendable_reason(probe_record(source_->kind(), *embedder_)); !why.empty())
    throw config_error(fmt::format("{}: {}", sink_->describe(), why));
}

void pipeline::check_sink_before_ingest(run_context& ctx) {
  refuse_unsendable_settings();
  const sink_stats before = sink_->stats();
  if (before.dimension != 0 && before.dimension != embedder_->dimension())
    throw config_error(
        fmt::format("the sink ({}) holds vectors of dimension {}, but the embedder ({}) makes {}; "
                    "use a matching embedder.dimension or another index",
                    sink_->describe(), before.dimension, embedder_->identity(), embedder_->dimension()));
  const std::string sink_id = sink_->identity();
  if (!ledger_->sink_baseline(sink_id) || options_.restore) {
    // The first write from this workdir (or a restore asked for): what the sink already holds of
    // this backfill (a workdir that was lost) is recorded as written, the rest is the baseline.
    std::int64_t ours = 0;
    if (before.count > 0 && (ledger_->document_count(sink_id) == 0 || options_.restore))
      ours = restore_from_sink(*sink_, *ledger_, source_->kind(), embedder_->identity(),
                               embedder_->dimension(), ctx, source_->id_prefix(), before.count)
                 .chunks;
    ledger_->set_sink_baseline(sink_id, std::max<std::int64_t>(0, before.count - ours));
    if (before.count > ours)
      logger()->info("{} already holds {} records; verification expects them plus ours", sink_->describe(),
                     before.count - ours);
  }
}

ingest_report pipeline::ingest_from(run_context& ctx, fetch_feed* feed,
                                    const std::vector<partition_plan>& order, bool validate_next) {
  if (!embedder_ || !sink_) throw config_error("ingest needs an embedder and a sink");
  scanned_.reset();
  // The item ids of every page read, for the validate next (pipeline/page_scan.hpp). The page's parse
  // that its check made serves both page_items here and the source's normalize after.
  std::unique_ptr<page_scan> scan = validate_next ? std::make_unique<page_scan>() : nullptr;
  auto scan_page = [&](std::string_view partition, const page_row& page, const std::string& body) {
    if (!scan->begin_page(page.path, page.hash)) return;
    try {
      json::share_page_parse(body, [&] {
        source_->page_items(partition, body, [&](std::string_view id) { scan->add(id, partition); });
      });
      scan->end_page();
    } catch (const error&) {
      scan->abandon_page();  // the validate reads it again, and says what is wrong with it
    }
  };
  const std::string kind = source_->kind();
  const std::string sink_id = sink_->identity();
  ingest_report report;
  check_sink_before_ingest(ctx);
  if (!feed) budget_.reset_peak();  // beside a fetch, the run's peak started with it

  // While a fetch runs beside the ingest, progress shows the fetch (pages); then the ingest, in
  // journal pages normalized out of the pages of every fetched partition (known from the ledger).
  std::int64_t pages_read = 0;
  auto fetched_pages = [&] {
    std::int64_t n = 0;
    for (const auto& part : ledger_->partitions(kind))
      if (part.status == "done") n += part.pages;
    return n;
  };
  bool showing_fetch = feed != nullptr;
  auto show_progress = [&] {
    if (!showing_fetch) return;
    const bool fetched = feed->done();  // then what it published last is where it ended
    if (progress p = feed->published(); !p.phase.empty()) ctx.state() = std::move(p);
    if (fetched) {
      showing_fetch = false;
      ctx.begin_phase("ingest", "pages", fetched_pages(), pages_read);
    }
  };
  if (feed)
    begin_fetch_phase(ctx, order);
  else
    ctx.begin_phase("ingest", "pages", fetched_pages());
  const std::int64_t calls_before = embedder_->calls();
  const auto waits_before = http::quota_waits_total();
  const auto started = std::chrono::steady_clock::now();
  double fetch_waits = 0;
  const std::int64_t warnings_before = ctx.warnings();
  const std::size_t examples_before = ctx.warning_examples().size();

  document_dedup dedup(*ledger_, sink_id);
  record_builder builder(options_.chunking, sink_->metadata_limit(),
                         [this](std::string_view id) { return sink_->fit_record_id(id); });
  builder.carry_provenance(embedder_->identity(), kind);
  batch_writer writer(*sink_, options_.max_examples, embedder_->identity());
  stage_options so;
  so.overlap = options_.overlap;
  so.embed_workers = options_.embed_concurrency ? options_.embed_concurrency : embedder_->concurrency();
  so.batches_in_flight = options_.batches_in_flight;
  so.ledger_path = options_.workdir / "state.sqlite";
  so.budget = budget_.total() > 0 ? &budget_ : nullptr;
  so.dimension = static_cast<std::size_t>(std::max(embedder_->dimension(), 0));
  ingest_stages stages(*embedder_, writer, *ledger_, so);
  // A batch is closed when its records are due or when it holds its share of the budget: the one
  // being built beside those in flight (of the budget the stages have: what is not set aside).
  const std::size_t batch_share = (budget_.total() - budget_.aside()) / (stages.max_alive() + 1);
  embed_planner planner(*ledger_, embedder_->identity(), embedder_->max_batch(),
                        4 * stages.max_alive() * std::max<std::size_t>(options_.batch_records, 1));

  auto current = std::make_shared<batch>();
  bool drain_first = false;  // the batch holds a newer version of a document an earlier batch has in flight
  auto flush = [&] {
    if (current->docs.empty()) return;
    record_intent(*ledger_, sink_id, *current);
    auto jobs = planner.plan(current, report.embedding_cache_hits);
    for (const auto& job : jobs)
      for (std::string_view text : job.texts)
        report.tokens_embedded += static_cast<std::int64_t>(billed_tokens(text));
    stages.submit(std::move(current), std::move(jobs), drain_first, ctx);
    current = std::make_shared<batch>();
    drain_first = false;
  };

  std::vector<std::string> unfit;
  std::int64_t trimmed_at = 0;  // pages_read when free memory was last given back
  auto on_document = [&](document&& doc) {
    ++report.documents_seen;
    if (budget_.total() > 0 && pages_read >= trimmed_at + kTrimEvery) {
      give_back_free_memory();
      trimmed_at = pages_read;
    }
    if (showing_fetch)
      show_progress();
    else
      ctx.state().done = pages_read;
    std::string hash = doc.content_hash();
    switch (dedup.check(doc, hash)) {
      case dedup_verdict::unchanged: ++report.documents_unchanged; return;
      case dedup_verdict::superseded: ++report.documents_superseded; return;
      case dedup_verdict::deleted_upstream: ++report.documents_deleted_upstream; return;
      case dedup_verdict::write_again:
        // The earlier version may be in a batch already handed over: write that one first.
        if (!current->holds(doc.id)) drain_first = true;
        break;
      case dedup_verdict::write: break;
    }
    pending_doc records = builder.build(doc, std::move(hash), report.metadata, unfit);
    for (const auto& id : unfit) {
      ++report.records_skipped;
      if (report.skipped_ids.size() < options_.max_examples) report.skipped_ids.push_back(id);
      logger()->error("record {} was skipped: its metadata keys alone exceed the sink's limit", id);
    }
    unfit.clear();
    if (current->add(std::move(records)) >= options_.batch_records ||
        (batch_share > 0 && current->bytes(so.dimension) >= batch_share))
      flush();
    ctx.checkpoint();
  };

  try {
    std::int64_t unfetched = 0;
    std::unordered_set<std::string> visited;
    std::string page_buffer;  // the journal pages read, partition after partition
    auto ingest_partition = [&](const std::string& name, bool live) {
      if (!showing_fetch) ctx.state().partition = name;
      journal_pages pages(journal_, *ledger_, options_.workdir, kind, name, live ? feed : nullptr, &ctx,
                          show_progress);
      pages.read_into(page_buffer);
      pages.count_pages_into(&pages_read);
      pages.count_waits_into(&fetch_waits);
      if (scan) pages.on_checked_page(scan_page);
      quarantine_keeper keeper(source_->requeries_items());
      if (!options_.strict) pages.quarantine_into(source_->journal_items(name), &keeper.held);
      source_->normalize(
          name, pages,
          [&](document&& doc) {
            keeper.read(doc.id);
            on_document(std::move(doc));
          },
          ctx);
      const std::vector<quarantined_item> held = keeper.still_held();
      for (const auto& q : held)
        logger()->error("{}: {} item {}{} was left out (quarantined): {}", q.partition, q.page, q.position,
                        q.id.empty() ? "" : " (" + q.id + ")", q.reason);
      ledger_->set_quarantined(kind, name, held);
    };
    if (feed && source_->pages_self_contained()) {
      // Follow the fetch page by page, partition by partition, in the order it fetches them.
      for (const auto& p : order) {
        visited.insert(p.name);
        ingest_partition(p.name, true);
      }
    }
    if (feed) {
      // Pages that need their neighbours (or other partitions) wait for the whole fetch; pages followed
      // one by one, for its end (so the progress shows where it ended).
      std::uint64_t v = feed->version();
      const auto wait_start = std::chrono::steady_clock::now();
      while (!feed->done()) {
        feed->wait(v, std::chrono::milliseconds(50));
        v = feed->version();
        show_progress();
        ctx.checkpoint();
      }
      fetch_waits += std::chrono::duration<double>(std::chrono::steady_clock::now() - wait_start).count();
    }
    if (feed) show_progress();
    if (feed) {
      if (auto e = feed->error()) {
        // The fetch failed: what it journaled is still ingested (unless it was told to stop).
        bool stopped = false;
        try {
          std::rethrow_exception(e);
        } catch (const cancelled&) {
          stopped = true;
        } catch (...) {
        }
        if (!stopped) {
          flush();
          stages.finish(ctx);
        }
        std::rethrow_exception(e);
      }
    }
    for (const auto& part : ledger_->partitions(kind)) {
      if (visited.count(part.name)) continue;
      if (part.status != "done") {
        ++unfetched;
        continue;
      }
      ingest_partition(part.name, false);
      flush();
    }
    flush();
    stages.finish(ctx);
    if (unfetched > 0)
      logger()->warn("{} partitions are not completely fetched and were not ingested; run fetch first",
                     unfetched);
  } catch (...) {
    stages.abandon();
    throw;
  }
  scanned_ = std::move(scan);
  report.chunks_embedded += stages.chunks_embedded();
  report.memory_peak_bytes = static_cast<std::int64_t>(budget_.peak());
  writer.merge_into(report);
  report.unsent = ledger_->unsent(sink_id, options_.max_examples);
  report.quarantined_count = ledger_->quarantined_count(kind);
  report.quarantined = ledger_->quarantined(kind, options_.max_examples);
  report.embed_calls = embedder_->calls() - calls_before;
  for (const auto& [name, seconds] : http::quota_waits_total()) {
    auto before = waits_before.find(name);
    const double waited = seconds - (before == waits_before.end() ? 0.0 : before->second);
    if (waited > 0) report.waits[name] = waited;
  }
  const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  const auto busy = stages.seconds();
  const double own = options_.overlap ? busy.held : busy.embed + busy.write;  // not the calling thread's work
  report.stage_seconds = {{"read and normalize", std::max(wall - own - fetch_waits, 0.0)},
                          {"waiting for the fetch", fetch_waits},
                          {"embed", busy.embed},
                          {"upsert", busy.write}};
  if (options_.overlap) report.stage_seconds["held by embed and upsert"] = busy.held;
  report.warnings = ctx.warnings() - warnings_before;
  const std::vector<std::string> examples = ctx.warning_examples();  // of the kinds this ingest met first
  for (std::size_t i = examples_before;
       i < examples.size() && report.warning_examples.size() < options_.max_examples; ++i)
    report.warning_examples.push_back(examples[i]);
  logger()->info(
      "ingest: {} documents seen, {} written, {} unchanged; {} chunks written, {} embedded, {} from cache",
      report.documents_seen, report.documents_written, report.documents_unchanged, report.chunks_written,
      report.chunks_embedded, report.embedding_cache_hits);
  if (report.warnings > 0)
    logger()->warn("ingest: {} values the source's documents left out (a shape backfill does not read)",
                   report.warnings);
  return report;
}

}  // namespace backfill
