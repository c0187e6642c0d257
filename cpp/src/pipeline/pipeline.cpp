#include "backfill/pipeline/pipeline.hpp"

#include <algorithm>
#include <chrono>
#include <atomic>
#include <mutex>
#include <random>
#include <thread>
#include <thread>
#include <unordered_map>
#include <unordered_set>

#include <fmt/format.h>

#include "backfill/core/errors.hpp"
#include "backfill/core/failpoint.hpp"
#include "backfill/core/hash.hpp"
#include "backfill/http/scrub.hpp"
#include "backfill/core/json.hpp"
#include "backfill/core/log.hpp"
#include "backfill/pack/sanitize.hpp"
#include "pipeline/internal.hpp"

namespace backfill {
namespace fs = std::filesystem;

namespace detail {

std::string relative_to(const fs::path& path, const fs::path& base) {
  std::error_code ec;
  auto rel = fs::relative(path, base, ec);
  return ec ? path.string() : rel.string();
}

std::string recovery_hint(std::string_view partition) {
  return fmt::format("refetch it with `backfill fetch CONFIG --refetch {}` (Python: pipeline.fetch(refetch=[\"{}\"]))",
                     partition, partition);
}

std::int64_t journal_pages::read_from(
    std::string_view partition, std::int64_t seq,
    const std::function<void(std::int64_t, const std::string&, const std::string&)>& fn) {
  for (const auto& page : ledger_.pages(source_, partition, seq)) {
    fs::path path = workdir_ / page.path;
    journal_.read_page(path, buffer_);
    if (hash_hex(buffer_) != page.hash)
      throw journal_error(fmt::format("journal page {} is damaged ({} bytes on disk, {} when written); {}",
                                      page.path, buffer_.size(), page.bytes, recovery_hint(partition)),
                          path.string());
    fn(page.seq, buffer_, page.path);
    seq = page.seq + 1;
  }
  return seq;
}

void journal_pages::for_each(const std::function<void(std::int64_t, const std::string&, const std::string&)>& fn) {
  if (!feed_) {
    read_from(partition_, 0, fn);
    return;
  }
  // Follow a fetch in progress: read what is recorded, wait for more, until the fetch has finished
  // the partition (then read once more: pages recorded just before it said so).
  std::int64_t seq = 0;
  for (;;) {
    std::uint64_t version = feed_->version();
    bool finished = feed_->finished(partition_);
    std::int64_t next = read_from(partition_, seq, fn);
    if (next == seq && finished) return;
    if (next == seq) {
      feed_->wait(version, std::chrono::milliseconds(50));
      if (on_wait_) on_wait_();
      if (ctx_) ctx_->checkpoint();
    }
    seq = next;
  }
}

void journal_pages::for_each_in(std::string_view partition,
                                const std::function<void(std::int64_t, const std::string&, const std::string&)>& fn) {
  read_from(partition, 0, fn);
}

}  // namespace detail

namespace {

using detail::recovery_hint;
using detail::relative_to;

// Journals each page, then records it and its cursor in the ledger: a page is durable before its
// cursor moves, so a crash anywhere re-reads at most the one page that was not yet recorded.
class journaling_sink final : public page_sink {
 public:
  journaling_sink(const journal& j, ledger& l, const fs::path& workdir, std::string source, std::string partition,
                  std::int64_t next_seq, fetch_report& report, run_context& ctx, detail::fetch_feed* feed)
      : journal_(j), ledger_(l), workdir_(workdir), source_(std::move(source)), partition_(std::move(partition)),
        seq_(next_seq), report_(report), ctx_(ctx), feed_(feed) {}

  // A fetch that resumes mid-partition: the page before it, which the guard of this process never saw.
  void resume_after(std::string last_page_hash, std::string_view cursor) {
    resume_hash_ = std::move(last_page_hash);
    resume_cursor_ = std::string(cursor);
    std::replace(resume_cursor_.begin(), resume_cursor_.end(), '\n', ' ');
  }

  void page(std::string_view body, std::int64_t items, std::string_view next_cursor,
            std::string_view watermark) override {
    if (!resume_hash_.empty()) {
      bool same = hash_hex(body) == resume_hash_;
      resume_hash_.clear();
      if (same)
        throw pagination_error(fmt::format(
            "{} {}: the server repeated itself: the page fetched with cursor '{}' (resuming after page {}) is "
            "identical to page {}; nothing was journaled. If the server is now fixed, `backfill fetch CONFIG "
            "--refetch {}` starts the partition again",
            source_, partition_,
            http::excerpt(resume_cursor_.find("://") != std::string::npos ? http::scrub_url(resume_cursor_)
                                                                          : resume_cursor_,
                          300),
            seq_ - 1, seq_ - 1,
            partition_));
    }
    fs::path path = journal_.write_page(source_, partition_, seq_, body);
    failpoint("fetch.page_journaled");
    page_row row;
    row.source = source_;
    row.partition = partition_;
    row.seq = seq_;
    row.path = relative_to(path, workdir_);
    row.hash = hash_hex(body);
    row.items = items;
    row.bytes = static_cast<std::int64_t>(body.size());
    ledger_.record_page(row, next_cursor, watermark);
    failpoint("fetch.page_committed");
    if (feed_) feed_->page_recorded();
    ++seq_;
    ++report_.pages_fetched;
    report_.items_fetched += items;
    report_.bytes_fetched += row.bytes;
    ++ctx_.state().done;
    ctx_.checkpoint();
  }

 private:
  const journal& journal_;
  ledger& ledger_;
  const fs::path& workdir_;
  std::string source_;
  std::string partition_;
  std::int64_t seq_;
  fetch_report& report_;
  run_context& ctx_;
  detail::fetch_feed* feed_;
  std::string resume_hash_;
  std::string resume_cursor_;
};

}  // namespace

pipeline::pipeline(std::shared_ptr<source> src, std::shared_ptr<embedder> emb, std::shared_ptr<sink> snk,
                   pipeline_options options)
    : source_(std::move(src)), embedder_(std::move(emb)), sink_(std::move(snk)), options_(std::move(options)),
      journal_(options_.workdir / "journal") {
  if (!source_) throw config_error("pipeline needs a source");
  // Chunks must fit the embedder's per-input limit: the hard chunk limit is lowered to it.
  if (embedder_ && embedder_->max_input_tokens() > 0 &&
      options_.chunking.max_tokens > embedder_->max_input_tokens()) {
    const std::size_t limit = embedder_->max_input_tokens();
    if (options_.chunking.target_tokens > limit)
      throw config_error(fmt::format("chunking.target_tokens ({}) is over the embedder's limit of {} tokens per input "
                                     "(embedder.max_input_tokens); lower it",
                                     options_.chunking.target_tokens, limit));
    logger()->info("chunking.max_tokens lowered from {} to {}, the embedder's limit per input",
                   options_.chunking.max_tokens, limit);
    options_.chunking.max_tokens = limit;
  }
  std::error_code ec;
  fs::create_directories(options_.workdir, ec);
  if (ec) throw io_error("cannot create workdir " + options_.workdir.string() + ": " + ec.message());
  ledger_ = std::make_unique<ledger>(options_.workdir / "state.sqlite");
}

pipeline::~pipeline() = default;

// --- plan --------------------------------------------------------------------------------------

plan_report pipeline::plan(run_context& ctx) {
  ctx.begin_phase("plan", "partitions");
  plan_report report;
  report.partitions = source_->plan(ctx);
  for (const auto& p : report.partitions) {
    ledger_->add_partition(source_->kind(), p.name);
    auto row = ledger_->partition(source_->kind(), p.name);
    if (row && row->status == "done") ++report.known_done;
  }
  return report;
}

// --- fetch -------------------------------------------------------------------------------------

fetch_report pipeline::fetch(run_context& ctx, const std::vector<std::string>& refetch) {
  auto planned = plan(ctx);
  return fetch_planned(ctx, planned, refetch, *ledger_, nullptr);
}

fetch_report pipeline::fetch_planned(run_context& ctx, const plan_report& planned,
                                     const std::vector<std::string>& refetch, ledger& book,
                                     detail::fetch_feed* feed) {
  const std::string kind = source_->kind();
  for (const auto& name : refetch) {
    bool known = std::any_of(planned.partitions.begin(), planned.partitions.end(),
                             [&](const auto& p) { return p.name == name; });
    if (!known) throw config_error(fmt::format("refetch: no partition named '{}' in {}", name, source_->describe()));
    journal_.clear_partition(kind, name);
    book.reset_partition(kind, name);
    logger()->info("partition {} will be fetched again from the start", name);
  }
  std::int64_t total_pages = 0;
  bool totals_known = true;
  for (const auto& p : planned.partitions) {
    if (p.estimated_pages < 0) totals_known = false;
    total_pages += std::max<std::int64_t>(p.estimated_pages, 0);
  }
  ctx.begin_phase("fetch", "pages", totals_known ? total_pages : -1);

  // One partition, start to end (or from where an earlier run stopped), on `c` with ledger `l`.
  auto fetch_one = [&](const partition_plan& p, run_context& c, ledger& l, fetch_report& rep) {
    ++rep.partitions;
    auto row = l.partition(kind, p.name);
    bool reopened = false;
    if (row && row->status == "done") {
      reopened = true;
      if (!source_->incremental()) {
        ++rep.partitions_skipped;
        c.state().done += row->pages;
        if (feed) feed->partition_finished(p.name);
        return;
      }
      // An incremental source picks up what changed since the partition's highest watermark.
      std::string cursor = source_->reopen_cursor(p, row->watermark);
      l.reopen_partition(kind, p.name, cursor);
      row = l.partition(kind, p.name);
      logger()->info("{}: fetching what changed since {}", p.label.empty() ? p.name : p.label,
                     row->watermark.empty() ? "the start" : row->watermark);
    }
    std::int64_t next_seq = row ? row->pages : 0;
    std::string cursor = row ? row->cursor : "";
    c.state().done += next_seq;
    c.state().partition = p.label.empty() ? p.name : p.label;
    if (next_seq > 0) logger()->info("resuming {} after {} journaled pages", c.state().partition, next_seq);
    journaling_sink out(journal_, l, options_.workdir, kind, p.name, next_seq, rep, c, feed);
    if (!reopened && next_seq > 0 && !cursor.empty()) {
      auto pages = l.pages(kind, p.name);
      if (!pages.empty()) out.resume_after(pages.back().hash, cursor);
    }
    source_->fetch(p, cursor, out, c);
    l.finish_partition(kind, p.name);
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
    // the others already running: they finish, no new one starts, and the first error is raised.
    // A stop (Ctrl-C, cancel) stops them all at their next checkpoint.
    std::mutex mutex;
    std::size_t next = 0;
    std::exception_ptr first_error;
    std::atomic<bool> stop{false};
    std::vector<fetch_report> reports(workers);
    std::vector<std::atomic<std::int64_t>> done(workers);
    for (auto& d : done) d.store(0);
    std::atomic<std::size_t> running{workers};
    std::vector<std::thread> threads;
    threads.reserve(workers);
    for (std::size_t w = 0; w < workers; ++w) {
      threads.emplace_back([&, w] {
        run_context c(
            [&, w](const progress& p) {
              done[w].store(p.done, std::memory_order_relaxed);
              return stop.load();
            },
            std::chrono::milliseconds(20));
        try {
          ledger l(options_.workdir / "state.sqlite");
          for (;;) {
            const partition_plan* p = nullptr;
            {
              std::lock_guard<std::mutex> lock(mutex);
              if (first_error || stop || next >= planned.partitions.size()) break;
              p = &planned.partitions[next++];
            }
            fetch_one(*p, c, l, reports[w]);
            done[w].store(c.state().done, std::memory_order_relaxed);
          }
        } catch (...) {
          std::lock_guard<std::mutex> lock(mutex);
          if (!first_error) first_error = std::current_exception();
        }
        --running;
      });
    }
    auto join_all = [&] {
      for (auto& t : threads) t.join();
    };
    try {
      // This thread shows the progress of all of them and checks for a stop.
      while (running.load() > 0) {
        std::int64_t sum = 0;
        for (auto& d : done) sum += d.load(std::memory_order_relaxed);
        ctx.state().done = sum;
        ctx.checkpoint();
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
      }
    } catch (...) {
      stop = true;
      join_all();
      throw;
    }
    join_all();
    for (const auto& r : reports) {
      report.partitions += r.partitions;
      report.partitions_skipped += r.partitions_skipped;
      report.pages_fetched += r.pages_fetched;
      report.items_fetched += r.items_fetched;
      report.bytes_fetched += r.bytes_fetched;
    }
    if (first_error) std::rethrow_exception(first_error);
  }
  report.pages_total = book.page_count(kind);
  logger()->info("fetch: {} pages read ({} bytes), {} journaled in all", report.pages_fetched,
                 report.bytes_fetched, report.pages_total);
  return report;
}

// --- fetch and ingest, overlapped --------------------------------------------------------------

run_report pipeline::fetch_and_ingest(run_context& ctx, const std::vector<std::string>& refetch) {
  run_report r;
  if (!options_.overlap) {
    r.fetch = fetch(ctx, refetch);
    r.ingest = ingest(ctx);
    return r;
  }
  auto planned = plan(ctx);
  // The fetch runs on its own thread with its own ledger connection; the ingest follows it here.
  detail::fetch_feed feed;
  ledger fetch_state(options_.workdir / "state.sqlite");
  std::thread fetcher([&] {
    run_context fetch_ctx(
        [&](const progress& p) {
          feed.publish(p);
          return feed.abort.load();
        },
        std::chrono::milliseconds(20));
    try {
      r.fetch = fetch_planned(fetch_ctx, planned, refetch, fetch_state, &feed);
      feed.finish(nullptr);
    } catch (...) {
      feed.finish(std::current_exception());
    }
  });
  try {
    r.ingest = ingest_from(ctx, &feed, planned.partitions);
  } catch (...) {
    feed.abort = true;
    fetcher.join();
    // A fetch error is the cause; the ingest only stopped because of it.
    if (auto e = feed.error()) {
      try {
        std::rethrow_exception(e);
      } catch (const cancelled&) {
      }
    }
    throw;
  }
  fetcher.join();
  if (auto e = feed.error()) std::rethrow_exception(e);
  return r;
}

// --- validate ----------------------------------------------------------------------------------

validate_report pipeline::validate(run_context& ctx) {
  const std::string kind = source_->kind();
  auto parts = ledger_->partitions(kind);
  ctx.begin_phase("validate", "pages", ledger_->page_count(kind));
  validate_report report;
  // Ids go to a private temporary database (on disk, deleted on close), so memory stays flat however
  // large the journal is, and nothing in the workdir is written.
  sql::database seen("", "validation scratch database");
  seen.exec("PRAGMA journal_mode=OFF; PRAGMA synchronous=OFF;"
            "CREATE TABLE items(id TEXT NOT NULL, partition TEXT NOT NULL, path TEXT NOT NULL)");
  auto insert = seen.prepare("INSERT INTO items(id, partition, path) VALUES(?,?,?)");
  seen.exec("BEGIN");
  std::string body;
  for (const auto& part : parts) {
    ++report.partitions;
    if (part.status != "done") ++report.unfetched_partitions;
    ctx.state().partition = part.name;
    for (const auto& page : ledger_->pages(kind, part.name)) {
      ++report.pages;
      ++ctx.state().done;
      ctx.checkpoint();
      fs::path path = options_.workdir / page.path;
      try {
        journal_.read_page(path, body);
      } catch (const journal_error& e) {
        report.bad_pages.push_back({part.name, page.path, fmt::format("cannot be read; {}", recovery_hint(part.name))});
        continue;
      }
      if (hash_hex(body) != page.hash) {
        report.bad_pages.push_back(
            {part.name, page.path,
             fmt::format("damaged: {} bytes on disk, {} when written; {}", body.size(), page.bytes,
                         recovery_hint(part.name))});
        continue;
      }
      try {
        source_->page_items(part.name, body, [&](std::string_view id) {
          ++report.items;
          insert.bind(1, id).bind(2, part.name).bind(3, page.path);
          insert.run();
        });
      } catch (const error& e) {
        report.bad_pages.push_back({part.name, page.path, fmt::format("cannot be parsed: {}", e.what())});
      }
    }
  }
  seen.exec("COMMIT");
  seen.exec("CREATE INDEX items_by_id ON items(id)");
  auto dups = seen.prepare(
      "SELECT id, min(partition), group_concat(path, char(10)) FROM items WHERE id IN"
      " (SELECT id FROM items GROUP BY id HAVING count(*) > 1) GROUP BY id ORDER BY id");
  while (dups.step()) {
    ++report.duplicate_ids;
    if (report.duplicates.size() >= options_.max_examples) continue;
    duplicate_item d;
    d.id = dups.column_string(0);
    d.partition = dups.column_string(1);
    std::string paths = dups.column_string(2);
    std::size_t pos = 0;
    while (pos <= paths.size()) {
      auto nl = paths.find('\n', pos);
      if (nl == std::string::npos) nl = paths.size();
      d.pages.push_back(paths.substr(pos, nl - pos));
      pos = nl + 1;
    }
    report.duplicates.push_back(std::move(d));
  }
  return report;
}

// --- reconcile ---------------------------------------------------------------------------------

reconcile_report pipeline::reconcile(run_context& ctx, double max_fraction) {
  if (!sink_) throw config_error("reconcile needs a sink");
  if (!source_->can_list_ids())
    throw config_error(fmt::format("reconcile: {} cannot list the ids it holds, so documents gone from it cannot be "
                                   "told apart; reconcile is for sources that can (jira)",
                                   source_->describe()));
  const std::string sink_id = sink_->identity();
  reconcile_report report;
  auto planned = plan(ctx);
  ctx.begin_phase("reconcile", "ids");
  // The source's ids go to a private scratch database, so memory stays flat for any number of them.
  sql::database listed("", "reconcile scratch database");
  listed.exec("PRAGMA journal_mode=OFF; PRAGMA synchronous=OFF;"
              "CREATE TABLE ids(id TEXT PRIMARY KEY) WITHOUT ROWID; BEGIN");
  auto put = listed.prepare("INSERT OR IGNORE INTO ids(id) VALUES(?)");
  for (const auto& p : planned.partitions) {
    ctx.state().partition = p.label.empty() ? p.name : p.label;
    source_->list_ids(p, [&](std::string_view id) {
      put.bind(1, id);
      put.run();
      ++ctx.state().done;
      ctx.checkpoint();
    }, ctx);
  }
  listed.exec("COMMIT");
  {
    auto count = listed.prepare("SELECT count(*) FROM ids");
    count.step();
    report.listed = count.column_int(0);
  }
  auto has = listed.prepare("SELECT 1 FROM ids WHERE id=?");
  std::vector<std::string> gone;  // ids only: small beside the documents themselves
  ledger_->for_each_document(sink_id, [&](std::string_view id) {
    ++report.documents;
    has.bind(1, id);
    bool present = has.step();
    has.reset();
    if (!present) gone.emplace_back(id);
  });
  if (gone.empty()) {
    logger()->info("reconcile: all {} documents are still in {}", report.documents, source_->describe());
    return report;
  }
  if (static_cast<double>(gone.size()) > max_fraction * static_cast<double>(report.documents))
    throw source_error(fmt::format(
        "reconcile refused: {} of {} documents ({:.0f}%) are no longer listed by {} (e.g. {}), more than the allowed "
        "{:.0f}%; nothing was deleted. If the source really lost them, allow it with a larger max fraction "
        "(`backfill reconcile CONFIG --max-fraction 1`)",
        gone.size(), report.documents, 100.0 * static_cast<double>(gone.size()) / static_cast<double>(report.documents),
        source_->describe(), gone.front(), 100.0 * max_fraction));

  ctx.begin_phase("reconcile", "documents", static_cast<std::int64_t>(gone.size()));
  // Sink first, then the ledger: a crash in between leaves ids the ledger still expects (verify says
  // so), and the next reconcile deletes them again.
  std::vector<std::string> doomed;
  std::vector<std::string> docs;
  auto apply = [&]() {
    if (!doomed.empty()) sink_->remove(doomed);
    sql::transaction tx(ledger_->db());
    for (const auto& d : docs) ledger_->forget_document(sink_id, d);
    tx.commit();
    report.chunks_deleted += static_cast<std::int64_t>(doomed.size());
    report.documents_deleted += static_cast<std::int64_t>(docs.size());
    ctx.state().done = report.documents_deleted;
    doomed.clear();
    docs.clear();
    ctx.checkpoint();
  };
  for (const auto& id : gone) {
    for (auto& c : ledger_->stale_chunks(sink_id, id, {})) doomed.push_back(std::move(c));
    docs.push_back(id);
    if (report.deleted.size() < options_.max_examples) report.deleted.push_back(id);
    if (doomed.size() >= 1000) apply();
  }
  apply();
  logger()->info("reconcile: {} documents ({} chunks) gone from {} were deleted from {}", report.documents_deleted,
                 report.chunks_deleted, source_->describe(), sink_->describe());
  return report;
}

// --- verify ------------------------------------------------------------------------------------

verify_report pipeline::verify(run_context& ctx, std::int64_t sample) {
  if (!sink_) throw config_error("verify needs a sink");
  const std::string sink_id = sink_->identity();
  verify_report report;
  report.sink = sink_->describe();
  report.baseline = ledger_->sink_baseline(sink_id).value_or(0);
  const std::int64_t live = ledger_->live_chunk_count(sink_id);
  report.expected_count = report.baseline + live;
  report.documents = ledger_->document_count(sink_id);
  ctx.begin_phase("verify", "records", sample > 0 ? std::min(sample, live) : live);

  // 1. The count delta. An eventually consistent sink is polled until the count matches or stops
  // changing for a while, within count_timeout_seconds.
  auto started = std::chrono::steady_clock::now();
  report.observed_count = sink_->stats().count;
  if (sink_->count_lags()) {
    std::int64_t last = report.observed_count;
    auto last_change = started;
    while (report.observed_count != report.expected_count) {
      auto now = std::chrono::steady_clock::now();
      double waited = std::chrono::duration<double>(now - started).count();
      double still = std::chrono::duration<double>(now - last_change).count();
      if (waited >= options_.count_timeout_seconds || still >= std::max(5.0, options_.count_timeout_seconds / 4))
        break;
      ctx.checkpoint();
      std::this_thread::sleep_for(std::chrono::duration<double>(options_.count_poll_seconds));
      report.observed_count = sink_->stats().count;
      if (report.observed_count != last) {
        last = report.observed_count;
        last_change = std::chrono::steady_clock::now();
      }
    }
  }
  report.count_wait_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  report.count_ok = report.observed_count == report.expected_count;

  // 2. Read back every id (or a uniform sample) and compare metadata hashes.
  std::vector<std::pair<std::string, std::string>> ids;  // (id, meta_hash) of one fetch batch
  const std::size_t batch = std::min<std::size_t>(1000, std::max<std::size_t>(1, sink_->max_batch()));
  auto check = [&]() {
    if (ids.empty()) return;
    std::vector<std::string> want;
    want.reserve(ids.size());
    for (const auto& p : ids) want.push_back(p.first);
    auto got = sink_->fetch(want);
    std::unordered_map<std::string_view, const fetched_record*> by_id;
    for (const auto& r : got) by_id.emplace(r.id, &r);
    for (const auto& [id, expected_hash] : ids) {
      ++report.checked;
      ++ctx.state().done;
      auto it = by_id.find(id);
      if (it == by_id.end()) {
        ++report.missing_count;
        if (report.missing.size() < options_.max_examples) report.missing.push_back(id);
        continue;
      }
      std::string actual;
      try {
        actual = hash_hex(json::canonicalize(it->second->metadata_json));
      } catch (const error&) {
        actual = "unparseable";
      }
      if (actual != expected_hash) {
        ++report.mismatched_count;
        if (report.mismatched.size() < options_.max_examples) report.mismatched.push_back(id);
      }
    }
    ids.clear();
    ctx.checkpoint();
  };

  if (sample > 0 && sample < live) {
    // Reservoir sampling over the ledger's ids: memory is the sample, not the index.
    report.sampled = true;
    std::vector<std::pair<std::string, std::string>> reservoir;
    reservoir.reserve(static_cast<std::size_t>(sample));
    std::mt19937_64 rng{std::random_device{}()};
    std::int64_t n = 0;
    ledger_->for_each_live_chunk(sink_id, [&](std::string_view id, std::string_view h) {
      ++n;
      if (static_cast<std::int64_t>(reservoir.size()) < sample) {
        reservoir.emplace_back(id, h);
      } else {
        std::uniform_int_distribution<std::int64_t> pick(0, n - 1);
        auto j = pick(rng);
        if (j < sample) reservoir[static_cast<std::size_t>(j)] = {std::string(id), std::string(h)};
      }
    });
    std::sort(reservoir.begin(), reservoir.end());
    for (auto& p : reservoir) {
      ids.push_back(std::move(p));
      if (ids.size() >= batch) check();
    }
    check();
  } else {
    // Stream ids from the ledger in batches; the statement stays open while the sink is read.
    ledger_->for_each_live_chunk(sink_id, [&](std::string_view id, std::string_view h) {
      ids.emplace_back(id, h);
      if (ids.size() >= batch) check();
    });
    check();
  }
  report.ok = report.count_ok && report.missing_count == 0 && report.mismatched_count == 0;
  report.sink_info = sink_->receipt_info();
  if (report.ok) {
    logger()->info("verify: {} records in {}, {} checked, all present and matching", report.observed_count,
                   report.sink, report.checked);
  } else {
    logger()->error("verify: expected {} records, found {}; {} missing, {} mismatched of {} checked",
                    report.expected_count, report.observed_count, report.missing_count, report.mismatched_count,
                    report.checked);
  }
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
  return report;
}

std::vector<query_match> pipeline::query(std::string_view text, std::size_t top_k) {
  if (!embedder_ || !sink_) throw config_error("query needs an embedder and a sink");
  auto vectors = embedder_->embed({text});
  if (vectors.size() != 1) throw embed_error("embedder returned no vector for the query");
  return sink_->query(vectors[0], top_k);
}

}  // namespace backfill
