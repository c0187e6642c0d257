// Sources: where pages come from and how they become documents.
#pragma once

#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "backfill/core/context.hpp"
#include "backfill/core/document.hpp"
#include "backfill/core/errors.hpp"
#include "backfill/core/fields.hpp"
#include "backfill/core/json_items.hpp"

namespace backfill {

class preflight_checks;  // preflight/checks.hpp

struct partition_plan {
  std::string name;   // stable key, e.g. a channel id or a project key
  std::string label;  // what a person calls it ("#general")
  std::int64_t estimated_items = -1;
  std::int64_t estimated_pages = -1;
  // Sources behind a rate limit: the requests a full fetch needs at least and the seconds they take
  // at the limit as it stands now, or at the pace the source keeps (-1: not estimated).
  std::int64_t estimated_requests = -1;
  double estimated_seconds = -1;
  // Filled by the pipeline's plan (pipeline/plan_sample.hpp) from a sample of the partition's pages
  // run through the normalizer and the chunker: the documents, chunks and tokens a full fetch gives
  // the embedder, and the journal bytes it writes (-1: not estimated); `sampled_items`: the items the
  // sample read (0: the figures are the other partitions' average per item).
  std::int64_t estimated_documents = -1;
  std::int64_t estimated_chunks = -1;
  std::int64_t estimated_tokens = -1;
  std::int64_t estimated_bytes = -1;
  std::int64_t sampled_items = 0;
  // Of the estimated tokens, those whose vectors the embedding cache already holds (the sample's share).
  std::int64_t cached_tokens = 0;
  std::int64_t done_items = 0;  // items already journaled (the ledger's count for the partition)
};
BACKFILL_FIELDS(partition_plan, &s::name, &s::label, &s::estimated_items, &s::estimated_pages,
                &s::estimated_requests, &s::estimated_seconds, &s::estimated_documents, &s::estimated_chunks,
                &s::estimated_tokens, &s::estimated_bytes, &s::sampled_items, &s::cached_tokens,
                &s::done_items)

// The pages a plan expects in all (the fetch's progress total), or -1 when a partition's is unknown.
inline std::int64_t estimated_pages(const std::vector<partition_plan>& plan) {
  std::int64_t total = 0;
  for (const auto& p : plan) {
    if (p.estimated_pages < 0) return -1;
    total += p.estimated_pages;
  }
  return total;
}

// Starts the fetch's progress: in pages when the plan knows every partition's (a source that counts
// them cheaply when it plans, or `backfill plan`'s estimates), else in partitions, each done when it
// finishes. A run does not ask the services' sources for their estimates: Jira's counts the whole
// project where an incremental rerun reads only what changed, GitHub's takes up to four requests a
// repository, the Slack Web API has none short of listing every page; partitions cost no request and
// still give an ETA. Returns whether it counts pages.
inline bool begin_fetch_phase(run_context& ctx, const std::vector<partition_plan>& plan) {
  const std::int64_t pages = estimated_pages(plan);
  if (pages >= 0)
    ctx.begin_phase("fetch", "pages", pages);
  else
    ctx.begin_phase("fetch", "partitions", static_cast<std::int64_t>(plan.size()));
  return pages >= 0;
}

// Where fetched pages go. The pipeline journals each page and advances the cursor in the ledger in
// that order, so a page is durable before its cursor moves.
class page_sink {
 public:
  virtual ~page_sink() = default;
  // `next_cursor`: where fetching resumes after this page ("" when the partition is finished by it).
  // `watermark`: for incremental sources, the highest change marker on the page (e.g. the latest
  // `updated` in UTC ISO 8601); the ledger keeps the highest per partition.
  virtual void page(std::string_view body, std::int64_t items, std::string_view next_cursor,
                    std::string_view watermark = {}) = 0;
  // A page whose body is `parts` one after the other (a source that wraps what it fetched: Jira's
  // search page inside an object with its comments), so a sink that can take them apart (the journal)
  // never copies a page-sized body into one string. Otherwise they are joined and go to page().
  virtual void page_parts(std::span<const std::string_view> parts, std::int64_t items,
                          std::string_view next_cursor, std::string_view watermark = {}) {
    std::size_t size = 0;
    for (auto part : parts) size += part.size();
    std::string body;
    body.reserve(size);
    for (auto part : parts) body += part;
    page(body, items, next_cursor, watermark);
  }
};

// Read access to the journaled pages of a partition, in order; may be iterated more than once.
class page_reader {
 public:
  virtual ~page_reader() = default;
  // Calls fn(seq, body, path) for every page; `body` has simdjson padding capacity.
  virtual void for_each(
      const std::function<void(std::int64_t, const std::string&, const std::string&)>& fn) = 0;
  // Pages of another partition of the same source (e.g. Slack's workspace-wide users list).
  virtual void for_each_in(
      std::string_view partition,
      const std::function<void(std::int64_t, const std::string&, const std::string&)>& fn) = 0;
  // An item of the page being read that the normalizer cannot use (a field it needs is missing):
  // the pipeline quarantines it and the page goes on. `position`: in the page's items, from 0.
  // By default (a reader that keeps no quarantine) the page fails.
  virtual void skip_item(std::size_t position, std::string id, std::string reason) {
    (void)position;
    throw source_error(id.empty() ? std::move(reason) : id + ": " + reason);
  }
};

using document_fn = std::function<void(document&&)>;
using item_fn = std::function<void(std::string_view id)>;
// Hears of an item a normalizer leaves out for a field it lacks: its position on the page, its id
// ("" when that is what lacks), why (page_reader::skip_item).
using skip_fn = std::function<void(std::size_t position, std::string id, std::string reason)>;

// A source object may be called from several threads at once (fetch of different partitions,
// page_items, normalize), so implementations keep per-call state local or guarded.
class source {
 public:
  virtual ~source() = default;
  virtual std::string kind() const = 0;  // "slack_export"
  // A description for logs and receipts: where the data comes from, never a credential.
  virtual std::string describe() const = 0;

  // What every document id of this source starts with ("jira:"), so that restoring a workdir from the
  // sink lists only this source's records (pipeline/restore.hpp); "" lists the whole namespace.
  virtual std::string id_prefix() const { return {}; }

  virtual std::vector<partition_plan> plan(run_context& ctx) = 0;
  // What a full fetch of each planned partition needs, for `backfill plan` only (run and fetch do not
  // call it, so requests spent on counting are spent only when a person asks): sources that can tell
  // fill the estimates plan() left at -1. Progress: ctx.step() as each partition starts (the phase's
  // total is the partitions).
  virtual void estimate(std::vector<partition_plan>& partitions, run_context& ctx) {
    (void)partitions;
    (void)ctx;
  }
  // Adds the checks that prove the source's settings work, each one cheap request (credentials,
  // the pagination probe: preflight/preflight.hpp); a run performs them before it spends anything.
  virtual void preflight(preflight_checks& out, run_context& ctx) {
    (void)out;
    (void)ctx;
  }
  // Incremental sources fetch a finished partition again on a later run, from the cursor this
  // returns for the partition's highest watermark; others skip finished partitions.
  virtual bool incremental() const { return false; }
  virtual std::string reopen_cursor(const partition_plan& partition, std::string_view watermark) {
    (void)partition;
    (void)watermark;
    return {};
  }
  // A partition with quarantined items is fetched again from the start (so an item the source has
  // fixed since is read), unless its source can ask for single items again: then its next incremental
  // fetch starts at requery_cursor, which reads the quarantined `ids` (their document ids, "" where
  // none could be read) and then what changed since the watermark ("" when it cannot: from the start).
  // Such a source's normalizer emits each document from the page it reads it on, so a document read
  // on a later page than a quarantined item of its id ends that item's quarantine.
  virtual bool requeries_items() const { return false; }
  virtual std::string requery_cursor(const partition_plan& partition, std::string_view watermark,
                                     const std::vector<std::string>& ids) {
    (void)partition;
    (void)watermark;
    (void)ids;
    return {};
  }
  // A watermark as a person reads it in the log ("" = none): sources whose watermark carries more
  // than a time (GitHub's ETags) say just the time.
  virtual std::string describe_watermark(std::string_view watermark) const { return std::string(watermark); }
  // Fetches the pages of one partition, starting at `cursor` ("" = from the start).
  virtual void fetch(const partition_plan& partition, std::string_view cursor, page_sink& out,
                     run_context& ctx) = 0;
  // The ids of the raw items on one page, for duplicate detection. Throws source_error when the
  // page cannot be parsed.
  virtual void page_items(std::string_view partition, const std::string& body, const item_fn& fn) = 0;
  // Sources that can list the ids of every document they hold now (cheaply, without the content)
  // support reconcile: documents gone from the source are deleted from the sink.
  virtual bool can_list_ids() const { return false; }
  virtual void list_ids(const partition_plan& partition, const item_fn& fn, run_context& ctx) {
    (void)partition;
    (void)fn;
    (void)ctx;
  }
  // True when every page normalizes on its own (no page needs a later one, nor another partition):
  // the pipeline may then normalize a partition's pages while later ones are still being fetched.
  virtual bool pages_self_contained() const { return false; }
  // Where the journal pages of `partition` keep their items, so that an item the normalizer cannot read
  // (invalid UTF-8, a lone surrogate, nesting too deep) is quarantined and the rest of its page goes on
  // (core/json_items.hpp). The default, an empty layout, fails such a page as a whole.
  virtual json::item_layout journal_items(std::string_view partition) const {
    (void)partition;
    return {};
  }
  // Turns a partition's pages into documents. Items of a page that could not be read come as null.
  virtual void normalize(std::string_view partition, page_reader& pages, const document_fn& emit,
                         run_context& ctx) = 0;
};

}  // namespace backfill
