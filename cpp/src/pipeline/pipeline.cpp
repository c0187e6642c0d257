#include "backfill/pipeline/pipeline.hpp"

#include <sys/stat.h>
#if defined(__GLIBC__)
#include <malloc.h>
#endif

#include <algorithm>
#include <set>
#include <utility>

#include <fmt/format.h>

#include "backfill/core/errors.hpp"
#include "backfill/core/hash.hpp"
#include "backfill/core/json_items.hpp"
#include "backfill/core/kept_buffers.hpp"
#include "backfill/core/log.hpp"
#include "backfill/core/private_files.hpp"
#include "backfill/core/split.hpp"
#include "backfill/journal/journal_pages.hpp"
#include "backfill/pipeline/workdir_gc.hpp"
#include "backfill/verify/reconcile.hpp"
#include "backfill/verify/verifier.hpp"
#include "pipeline/page_scan.hpp"
#include "pipeline/plan_sample.hpp"
#include "pipeline/quarantine_keeper.hpp"

namespace backfill {
namespace fs = std::filesystem;

pipeline::pipeline(std::shared_ptr<source> src, std::shared_ptr<embedder> emb, std::shared_ptr<sink> snk,
                   pipeline_options options)
    : source_(std::move(src)),
      embedder_(std::move(emb)),
      sink_(std::move(snk)),
      options_(std::move(options)),
      journal_(options_.workdir / "journal"),
      budget_(options_.memory_budget_mb << 20) {
  if (!source_) throw config_error("pipeline needs a source");
  // Chunks must fit the embedder's per-input limit: the hard chunk limit is lowered to it.
  if (embedder_ && embedder_->max_input_tokens() > 0 &&
      options_.chunking.max_tokens > embedder_->max_input_tokens()) {
    const std::size_t limit = embedder_->max_input_tokens();
    if (options_.chunking.target_tokens > limit)
      throw config_error(
          fmt::format("chunking.target_tokens ({}) is over the embedder's limit of {} tokens per input "
                      "(embedder.max_input_tokens); lower it",
                      options_.chunking.target_tokens, limit));
    logger()->info("chunking.max_tokens lowered from {} to {}, the embedder's limit per input",
                   options_.chunking.max_tokens, limit);
    options_.chunking.max_tokens = limit;
  }
  open_workdir();
  ledger_ = std::make_unique<ledger>(options_.workdir / "state.sqlite");
#if defined(__GLIBC__)
  // glibc gives threads that allocate at once their own arenas (up to 8 a core), and each arena
  // keeps what its threads freed: with a run's threads (HTTP engines, partition fetches, embed
  // workers, the writer) that multiplies the working set the budget bounds. Two arenas hold it
  // close to the budget (process-wide; set before the run's threads first allocate).
  // glibc also raises its mmap threshold to the largest block freed (up to 32 MB): after the first
  // page, page-sized buffers (bodies, parse buffers, compressed frames) come from the arenas, and
  // what is freed there stays resident, fragmented between smaller blocks. A fixed threshold keeps
  // every block of 1 MB or more in its own mapping, given back to the system when freed (10k issues:
  // peak RSS 260 -> 170 MB).
  if (options_.memory_budget_mb > 0) {
    mallopt(M_ARENA_MAX, 2);
    mallopt(M_MMAP_THRESHOLD, 1 << 20);
  }
#endif
  // Such blocks freed after every page would cost the next page a fault for each 4 kB again: an
  // eighth of the budget (16 MB of the default 128) is set aside for page-sized buffers kept idle
  // for reuse (response bodies, parsers: core/kept_buffers.hpp), so the stages hold that much less.
  // Kept buffers add to the peak RSS whenever the stages do not fill the budget (a 3 MB Jira page's
  // parser keeps ~7 MB resident): a quarter of the budget cut the faults of a 10,000-issue run by
  // two thirds but raised its peak RSS by 13 MB, and to 163 MB at 100,000; an eighth halves them
  // with the peak flat from 10,000 to 1,000,000 issues (bench/findings.md).
  kept_share_ = budget_.total() / 8;
  budget_.set_aside(kept_share_);
  kept_buffers::add_allowance(kept_share_);
}

pipeline::~pipeline() { kept_buffers::remove_allowance(kept_share_); }

// The workdir holds the customer's data: it is created 0700 (files in it are written 0600). One
// that is open to others (made before these rules, or widened by hand) is tightened, with a warning.
void pipeline::open_workdir() {
  const fs::path& dir = options_.workdir;
  struct stat st {};
  const bool existed = ::stat(dir.c_str(), &st) == 0;
  make_private_dirs(dir);
  if (!existed || (st.st_mode & 077) == 0) return;
  std::size_t changed = tighten_tree(dir);
  logger()->warn(
      "workdir {} was readable by other users (mode {:o}); {} folders and files are now private "
      "to their owner (0700 and 0600)",
      dir.string(), st.st_mode & 0777, changed);
}

// --- plan --------------------------------------------------------------------------------------

// The listing's total is known once it ends: the phase ends with every partition listed.
plan_report pipeline::plan(run_context& ctx) {
  ctx.begin_phase("plan", "partitions");
  plan_report report;
  report.partitions = source_->plan(ctx);
  for (const auto& p : report.partitions) {
    ledger_->add_partition(source_->kind(), p.name);
    auto row = ledger_->partition(source_->kind(), p.name);
    if (row && row->status == "done") ++report.known_done;
  }
  ctx.state().partition.clear();
  ctx.state().done = ctx.state().total = static_cast<std::int64_t>(report.partitions.size());
  return report;
}

// The sample is read before the source's estimate, which may build on it (a partition the sample
// read whole has its pages known), and scaled after it, to the items the source counted. After the
// listing, the phase goes on in two passes with their own totals, so each has an ETA: the sample
// ("sample pages") and the estimate ("partitions", which the source counts as it goes).
plan_report pipeline::plan_with_estimates(run_context& ctx) {
  plan_report report = plan(ctx);
  const auto listed = static_cast<std::int64_t>(report.partitions.size());
  plan_sample::settings how;
  how.max_pages = options_.plan_sample_pages;
  how.chunking = options_.chunking;
  if (embedder_) how.embedder = embedder_->identity();
  auto samples = plan_sample::read(*source_, ledger_.get(), how, report.partitions, ctx);
  ctx.begin_phase("plan", "partitions", listed);
  source_->estimate(report.partitions, ctx);
  ctx.state().partition.clear();
  ctx.state().done = listed;  // a source that counts nothing has estimated them all now
  ctx.checkpoint_now();       // the phase's last counters, for the display
  plan_sample::apply(samples, report.partitions);
  for (std::size_t i = 0; i < report.partitions.size(); ++i) {
    partition_plan& p = report.partitions[i];
    if (auto row = ledger_->partition(source_->kind(), p.name)) p.done_items = row->items;
    report.sampled_pages += samples[i].pages;
  }
  if (sink_) report.known_documents = ledger_->document_count(sink_->identity());
  if (embedder_) report.cached_embeddings = ledger_->cached_embedding_count(embedder_->identity());
  return report;
}

// --- validate ----------------------------------------------------------------------------------

validate_report pipeline::validate(run_context& ctx) {
  const std::string kind = source_->kind();
  auto parts = ledger_->partitions(kind);
  ctx.begin_phase("validate", "pages", ledger_->page_count(kind));
  validate_report report;
  // The pages the ingest just read (a run's) are counted from what it recorded; the rest are read.
  std::unique_ptr<page_scan> scan = std::move(scanned_);
  if (!scan) scan = std::make_unique<page_scan>();
  std::string body, mended;
  std::set<std::pair<std::string, std::int64_t>> noted;  // (page, position) of the quarantined items
  auto note_quarantined = [&](quarantined_item q) {
    if (!noted.emplace(q.page, q.position).second) return;
    ++report.quarantined_count;
    if (report.quarantined.size() < options_.max_examples) report.quarantined.push_back(std::move(q));
  };
  for (const auto& part : parts) {
    const json::item_layout layout = source_->journal_items(part.name);
    quarantine_keeper keeper(source_->requeries_items());
    ++report.partitions;
    if (part.status != "done") ++report.unfetched_partitions;
    ctx.state().partition = part.name;
    for (const auto& page : ledger_->pages(kind, part.name)) {
      ++report.pages;
      ++ctx.state().done;
      ctx.checkpoint();
      if (auto items = scan->count(page.path, page.hash)) {
        report.items += *items;
        continue;
      }
      fs::path path = options_.workdir / page.path;
      try {
        journal_.read_page(path, body);
      } catch (const journal_error& e) {
        report.bad_pages.push_back(
            {part.name, page.path, fmt::format("cannot be read; {}", recovery_hint(part.name))});
        continue;
      }
      if (hash_hex(body) != page.hash) {
        report.bad_pages.push_back({part.name, page.path,
                                    fmt::format("damaged: {} bytes on disk, {} when written; {}", body.size(),
                                                page.bytes, recovery_hint(part.name))});
        continue;
      }
      std::vector<json::unreadable_item> unreadable;
      const std::string& readable = json::readable(body, layout, mended, unreadable);
      for (auto& b : unreadable)
        keeper.held.push_back({part.name, page.path, static_cast<std::int64_t>(b.position), std::move(b.id),
                               "the item " + std::move(b.reason)});
      scan->begin_page(page.path, page.hash);
      try {
        source_->page_items(part.name, readable, [&](std::string_view id) {
          ++report.items;
          keeper.read(id);
          scan->add(id, part.name);
        });
        scan->end_page(true);
      } catch (const error& e) {
        scan->end_page(true);  // its ids up to the item that failed count, as they are in the report
        report.bad_pages.push_back({part.name, page.path, fmt::format("cannot be parsed: {}", e.what())});
      }
    }
    for (auto& q : keeper.still_held()) note_quarantined(std::move(q));
  }
  // And those the last ingest left out that a scan of the pages does not see (a field missing), and
  // those of the pages the ingest read.
  for (auto& q : ledger_->quarantined(kind, static_cast<std::size_t>(ledger_->quarantined_count(kind))))
    note_quarantined(std::move(q));
  scan->duplicates([&](std::string_view id, std::string_view partition, std::string_view paths) {
    ++report.duplicate_ids;
    if (report.duplicates.size() >= options_.max_examples) return;
    duplicate_item d;
    d.id = id;
    d.partition = partition;
    for (std::string_view page : split(paths, '\n')) d.pages.emplace_back(page);
    report.duplicates.push_back(std::move(d));
  });
  return report;
}

// --- reconcile and verify (verify/) -----------------------------------------------------------

reconcile_report pipeline::reconcile(run_context& ctx, double max_fraction) {
  if (!sink_) throw config_error("reconcile needs a sink");
  if (!source_->can_list_ids())
    throw config_error(
        fmt::format("reconcile: {} cannot list the ids it holds, so documents gone from it cannot be "
                    "told apart; reconcile is for sources that can (Jira, GitHub, the Slack Web API)",
                    source_->describe()));
  auto planned = plan(ctx);
  return reconcile_with_source(*source_, *sink_, *ledger_, planned.partitions, max_fraction,
                               options_.max_examples, ctx);
}

verify_report pipeline::verify(run_context& ctx, std::int64_t sample) {
  if (!sink_) throw config_error("verify needs a sink");
  verify_options o;
  o.count_timeout_seconds = options_.count_timeout_seconds;
  o.count_poll_seconds = options_.count_poll_seconds;
  o.max_examples = options_.max_examples;
  verify_report report = verify_sink(*sink_, *ledger_, o, ctx, sample);
  report.quarantined_count = ledger_->quarantined_count(source_->kind());
  report.quarantined = ledger_->quarantined(source_->kind(), options_.max_examples);
  if (report.quarantined_count > 0) report.ok = false;
  if (report.ok && !report.sampled) ledger_->note_verified(sink_->identity());
  return report;
}

// --- status and query --------------------------------------------------------------------------

status_report pipeline::status() {
  status_report report;
  report.partitions = ledger_->partitions(source_->kind());
  report.pages = ledger_->page_count(source_->kind());
  if (sink_) {
    report.documents = ledger_->document_count(sink_->identity());
    report.live_chunks = ledger_->live_chunk_count(sink_->identity());
  }
  if (embedder_) report.cached_embeddings = ledger_->cached_embedding_count(embedder_->identity());
  report.disk = measure_workdir(options_.workdir, *ledger_);
  return report;
}

std::vector<query_match> pipeline::query(std::string_view text, std::size_t top_k) {
  if (!embedder_ || !sink_) throw config_error("query needs an embedder and a sink");
  auto vectors = embedder_->embed({text});
  if (vectors.size() != 1) throw embed_error("embedder returned no vector for the query");
  return sink_->query(vectors[0], top_k);
}

}  // namespace backfill
