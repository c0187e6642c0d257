// The fetch phase: partitions fetched `fetch_concurrency` at a time, each page journaled before its
// cursor moves (journal/journaling_sink.hpp); and the run that overlaps it with the ingest.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <memory>

#include <fmt/format.h>

#include "backfill/core/errors.hpp"
#include "backfill/core/log.hpp"
#include "backfill/core/parser_pool.hpp"
#include "backfill/core/task_group.hpp"
#include "backfill/http/client.hpp"
#include "backfill/journal/fetch_feed.hpp"
#include "backfill/journal/journaling_sink.hpp"
#include "backfill/pipeline/pipeline.hpp"

namespace backfill {

// --- fetch -------------------------------------------------------------------------------------

// Beside an ingest, the partitions after the one the ingest needs next wait while it has this many
// pages journaled and unread: enough to keep it busy while that one partition's fetch goes on (a
// Jira page is 100 issues, ~0.1 s of the ingest's time), few enough that a fetch that is not
// ahead never waits.
constexpr std::int64_t kPagesReadyAhead = 8;

fetch_report pipeline::fetch(run_context& ctx, const std::vector<std::string>& refetch) {
  auto planned = plan(ctx);
  start_over(planned, refetch);
  return fetch_planned(ctx, planned, *ledger_, nullptr);
}

// The cursor that fetches a finished partition's changes and reads its quarantined items again, when
// the source can ask for those items alone (source::requery_cursor); "" otherwise.
static std::string requery_cursor(source& src, const partition_plan& p, ledger& book) {
  if (!src.incremental() || !src.requeries_items()) return {};
  auto row = book.partition(src.kind(), p.name);
  if (!row || row->status != "done") return {};
  auto ids = book.quarantined_ids(src.kind(), p.name);
  return ids.empty() ? std::string() : src.requery_cursor(p, row->watermark, ids);
}

// Before any page is read (an ingest that follows the fetch must not see the pages it replaces).
void pipeline::start_over(const plan_report& planned, const std::vector<std::string>& refetch) {
  const std::string kind = source_->kind();
  auto planned_as = [&](const std::string& name) -> const partition_plan* {
    auto it = std::find_if(planned.partitions.begin(), planned.partitions.end(),
                           [&](const auto& p) { return p.name == name; });
    return it == planned.partitions.end() ? nullptr : &*it;
  };
  auto planned_now = [&](const std::string& name) { return planned_as(name) != nullptr; };
  std::vector<std::string> again = refetch;
  // A partition with quarantined items starts over, so an item the source has fixed since is read,
  // unless the source can ask for those items alone (then its fetch does: fetch_one).
  for (auto& name : ledger_->quarantined_partitions(kind)) {
    const partition_plan* p = planned_as(name);
    if (!p || std::find(again.begin(), again.end(), name) != again.end()) continue;
    if (!requery_cursor(*source_, *p, *ledger_).empty()) continue;
    logger()->info("partition {} had items that could not be read (quarantined)", name);
    again.push_back(std::move(name));
  }
  for (const auto& name : again) {
    if (!planned_now(name))
      throw config_error(fmt::format("refetch: no partition named '{}' in {}", name, source_->describe()));
    // The ledger first: a crash between the two leaves pages on disk that nothing lists (overwritten
    // as the fetch writes them again), never a listed page that is gone.
    ledger_->reset_partition(kind, name);
    ledger_->set_quarantined(kind, name, {});
    journal_.clear_partition(kind, name);
    logger()->info("partition {} will be fetched again from the start", name);
  }
}

fetch_report pipeline::fetch_planned(run_context& ctx, const plan_report& planned, ledger& book,
                                     fetch_feed* feed) {
  const std::string kind = source_->kind();
  const bool in_pages = begin_fetch_phase(ctx, planned.partitions);
  if (!feed) budget_.reset_peak();  // beside an ingest, the run's peak started with it

  // One partition, start to end (or from where an earlier run stopped), on `c` with ledger `l`.
  auto fetch_one = [&](const partition_plan& p, run_context& c, ledger& l, fetch_report& rep) {
    ++rep.partitions;
    auto row = l.partition(kind, p.name);
    bool reopened = false;
    if (row && row->status == "done") {
      reopened = true;
      if (!source_->incremental()) {
        ++rep.partitions_skipped;
        c.state().done += in_pages ? row->pages : 1;
        if (feed) feed->partition_finished(p.name);
        return;
      }
      // An incremental source picks up what changed since the partition's highest watermark.
      std::string cursor = requery_cursor(*source_, p, l);
      if (!cursor.empty())
        logger()->info("{}: reading its quarantined items again", p.label.empty() ? p.name : p.label);
      else
        cursor = source_->reopen_cursor(p, row->watermark);
      l.reopen_partition(kind, p.name, cursor);
      row = l.partition(kind, p.name);
      const std::string since = source_->describe_watermark(row->watermark);
      logger()->info("{}: fetching what changed since {}", p.label.empty() ? p.name : p.label,
                     since.empty() ? "the start" : since);
    }
    std::int64_t next_seq = row ? row->pages : 0;
    std::string cursor = row ? row->cursor : "";
    if (in_pages) c.state().done += next_seq;
    c.state().partition = p.label.empty() ? p.name : p.label;
    if (next_seq > 0) logger()->info("resuming {} after {} journaled pages", c.state().partition, next_seq);
    if (feed) {
      // Beside an ingest that falls behind, only the partition it needs next keeps fetching: the others
      // wait before their next request, holding no page, while the ingest has enough to read.
      feed->partition_started(p.name, next_seq);
      c.set_pace({[feed, &p] { return feed->ahead(p.name, kPagesReadyAhead); },
                  [feed, &p, &rep] {
                    const auto start = std::chrono::steady_clock::now();
                    const auto seen = feed->version();
                    if (feed->ahead(p.name, kPagesReadyAhead))
                      feed->wait(seen, std::chrono::milliseconds(100));
                    rep.waited_for_ingest +=
                        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
                  }});
    }
    struct unpaced {
      run_context& c;
      ~unpaced() { c.set_pace({}); }
    } unpace{c};
    journaling_sink out(journal_, l, options_.workdir, kind, p.name, next_seq, rep, c, feed);
    out.hold_pages_in(&budget_);
    out.count_pages_done(in_pages);
    if (!reopened && next_seq > 0 && !cursor.empty()) {
      auto pages = l.pages(kind, p.name);
      if (!pages.empty()) out.resume_after(pages.back().hash, cursor);
    }
    try {
      source_->fetch(p, cursor, out, c);
    } catch (const pagination_error&) {
      if (feed) feed->partition_refused(p.name);  // its newest journaled page is not ingested
      throw;
    }
    l.finish_partition(kind, p.name);
    if (!in_pages) ++c.state().done;
    if (feed) feed->partition_finished(p.name);
  };

  fetch_report report;
  const std::size_t workers =
      std::min<std::size_t>(std::max<std::size_t>(1, options_.fetch_concurrency), planned.partitions.size());
  if (workers <= 1) {
    for (const auto& p : planned.partitions) fetch_one(p, ctx, book, report);
  } else {
    // Partitions are fetched `workers` at a time (the source's HTTP client keeps each host within its
    // rate limit), each worker with its own ledger connection. A partition that fails does not stop
    // the others already running: they finish, no new one starts, and the error is raised. So the
    // workers' contexts stop on `stop` alone, which only a stop of this thread's context sets
    // (Ctrl-C, cancel): that stops them all at their next checkpoint.
    std::atomic<bool> stop{false};
    struct worker {
      std::unique_ptr<run_context> ctx;
      std::unique_ptr<ledger> book;
      fetch_report report;
      std::atomic<std::int64_t> done{0};
    };
    std::vector<worker> crew(workers);
    task_group group;
    group.for_each(planned.partitions.size(), workers, [&](std::size_t i, std::size_t w) {
      worker& me = crew[w];  // only thread w touches crew[w] until the group has ended
      if (!me.ctx) {
        me.ctx = std::make_unique<run_context>(
            [&me, &stop](const progress& p) {
              me.done.store(p.done, std::memory_order_relaxed);
              return stop.load();
            },
            std::chrono::milliseconds(20));
        me.book = std::make_unique<ledger>(options_.workdir / "state.sqlite");
      }
      fetch_one(planned.partitions[i], *me.ctx, *me.book, me.report);
      me.done.store(me.ctx->state().done, std::memory_order_relaxed);
    });
    // This thread shows the progress of all of them and checks for a stop.
    group.wait([&] {
      std::int64_t sum = 0;
      for (auto& me : crew) sum += me.done.load(std::memory_order_relaxed);
      ctx.state().done = sum;
      try {
        ctx.checkpoint();
      } catch (...) {
        stop = true;
        throw;
      }
    });
    ctx.state().done = 0;  // where the workers ended, whatever the last tick saw
    for (const auto& me : crew) {
      ctx.state().done += me.done.load(std::memory_order_relaxed);
      report.partitions += me.report.partitions;
      report.partitions_skipped += me.report.partitions_skipped;
      report.pages_fetched += me.report.pages_fetched;
      report.items_fetched += me.report.items_fetched;
      report.bytes_fetched += me.report.bytes_fetched;
      report.waited_for_ingest += me.report.waited_for_ingest;
    }
  }
  // The pages' parse buffers and response bodies, not kept through the ingest that follows: their
  // share of the allowance of idle buffers goes to its embedder's and sink's answers.
  json::release_idle_parsers();
  http::release_idle_pages();
  ctx.checkpoint_now();  // the fetch's last counts, before the phase that follows
  report.pages_total = book.page_count(kind);
  report.memory_peak_bytes = static_cast<std::int64_t>(budget_.peak());
  logger()->info("fetch: {} pages read ({} bytes), {} journaled in all", report.pages_fetched,
                 report.bytes_fetched, report.pages_total);
  if (report.waited_for_ingest > 0)
    logger()->info(
        "fetch: the ingest was behind; partitions after the one it read waited {:.1f} s in all (summed) "
        "before requesting pages it did not need yet",
        report.waited_for_ingest);
  return report;
}

// --- fetch and ingest, overlapped --------------------------------------------------------------

run_report pipeline::fetch_and_ingest(run_context& ctx, const std::vector<std::string>& refetch,
                                      bool validate_next) {
  refuse_unsendable_settings();  // before anything is fetched
  run_report r;
  if (!options_.overlap) {
    r.fetch = fetch(ctx, refetch);
    r.ingest = ingest_from(ctx, nullptr, {}, validate_next);
    return r;
  }
  auto planned = plan(ctx);
  start_over(planned, refetch);
  budget_.reset_peak();
  // The fetch runs on its own thread with its own ledger connection; the ingest follows it here.
  fetch_feed feed;
  if (source_->pages_self_contained()) {  // the ingest follows the fetch partition by partition
    std::vector<std::string> order;
    for (const auto& p : planned.partitions) order.push_back(p.name);
    feed.follow(order);
  }
  ledger fetch_state(options_.workdir / "state.sqlite");
  task_group fetcher;  // its one task never throws: the fetch's outcome goes to the feed
  fetcher.spawn([&] {
    run_context fetch_ctx(
        [&](const progress& p) {
          feed.publish(p);
          return feed.abort.load();
        },
        std::chrono::milliseconds(20));
    try {
      r.fetch = fetch_planned(fetch_ctx, planned, fetch_state, &feed);
      feed.finish(nullptr);
    } catch (...) {
      feed.finish(std::current_exception());
    }
  });
  try {
    r.ingest = ingest_from(ctx, &feed, planned.partitions, validate_next);
  } catch (...) {
    feed.abort = true;
    fetcher.wait();
    // A fetch error is the cause; the ingest only stopped because of it.
    if (auto e = feed.error()) {
      try {
        std::rethrow_exception(e);
      } catch (const cancelled&) {
      }
    }
    throw;
  }
  fetcher.wait();
  if (auto e = feed.error()) std::rethrow_exception(e);
  return r;
}

}  // namespace backfill
