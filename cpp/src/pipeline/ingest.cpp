// The ingest phase: normalize -> dedup -> chunk -> embed (cache first) -> upsert -> commit, as
// stages that overlap.
//
//   calling thread        normalizes journal pages into documents, skips unchanged ones, chunks,
//                         sanitizes, records the intent (chunk ids about to be written), looks up
//                         the embedding cache and cuts the texts still to embed into jobs;
//   embed workers (N)     call the embedder, N calls in flight, and store each call's vectors in the
//                         cache as soon as it returns (a crash never pays for them twice);
//   writer (1)            takes batches in the order they were made, once their vectors are all
//                         there, upserts them, deletes stale chunks and commits the documents.
//
// At most `batches_in_flight` batches exist between the calling thread and the writer, so memory is
// bounded whatever the corpus size. The writer is the only thread that touches the sink, and it
// writes batches in order, so a later version of a record is never overwritten by an earlier one.
// With options.overlap off, every batch goes through the stages on the calling thread, one after
// another (the way a simple script would do it; kept for comparison and for debugging).
#include <algorithm>
#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <thread>
#include <unordered_map>
#include <unordered_set>

#include <fmt/format.h>

#include "backfill/core/errors.hpp"
#include "backfill/core/failpoint.hpp"
#include "backfill/core/hash.hpp"
#include "backfill/core/log.hpp"
#include "backfill/pipeline/pipeline.hpp"
#include "backfill/pack/sanitize.hpp"
#include "pipeline/internal.hpp"

namespace backfill {
namespace {

std::string record_metadata(const document& doc, const chunk& c) {
  metadata m = doc.meta;
  m.set("doc_id", doc.id);
  m.set("source", doc.source);
  m.set("partition", doc.partition);
  m.set("title", doc.title);
  if (!doc.url.empty()) m.set("url", doc.url);
  if (!doc.created_at.empty()) m.set("created_at", doc.created_at);
  if (!doc.updated_at.empty()) m.set("updated_at", doc.updated_at);
  m.set("chunk", static_cast<double>(c.index));
  m.set("text", c.text);
  return m.to_json();
}

// One text's vector: filled by exactly one embed job (or from the cache) before any batch that
// refers to it is written. Batches share slots, so a text in flight is never embedded twice.
struct vector_slot {
  std::vector<float> values;
};

struct pending_chunk {
  chunk c;
  std::string metadata_json;
  std::string meta_hash;
  std::size_t slot = 0;  // index into batch::slots
};

struct pending_doc {
  std::string id;
  std::string partition;
  std::string content_hash;
  std::string updated_at;
  std::vector<pending_chunk> chunks;
};

struct batch {
  std::uint64_t seq = 0;
  std::vector<pending_doc> docs;
  std::unordered_map<std::string, std::size_t> doc_index;  // doc id -> position in docs
  std::size_t chunk_count = 0;
  std::vector<std::shared_ptr<vector_slot>> slots;
  std::unordered_map<std::string, std::size_t> slot_index;  // text hash -> position in slots
  std::size_t jobs_pending = 0;  // guarded by the stages' mutex
};

struct embed_job {
  std::shared_ptr<batch> owner;
  std::vector<std::size_t> slots;  // positions in owner->slots
  std::vector<std::string_view> texts;
  std::vector<std::string> hashes;
};

// Counters kept by the embed workers and the writer, merged into the report at the end.
struct stage_counts {
  std::int64_t chunks_embedded = 0;
  std::int64_t chunks_written = 0;
  std::int64_t stale_chunks_deleted = 0;
  std::int64_t upsert_requests = 0;
  std::int64_t documents_written = 0;
  std::int64_t records_skipped = 0;
  std::vector<std::string> skipped_ids;
};

}  // namespace

class pipeline::ingest_stages {
 public:
  ingest_stages(pipeline& p, std::size_t max_examples)
      : p_(p), emb_id_(p.embedder_->identity()), sink_id_(p.sink_->identity()), max_examples_(max_examples) {
    overlap_ = p.options_.overlap;
    workers_ = p.options_.embed_concurrency ? p.options_.embed_concurrency : p.embedder_->concurrency();
    workers_ = std::clamp<std::size_t>(workers_, 1, 64);
    max_alive_ = p.options_.batches_in_flight ? p.options_.batches_in_flight : workers_ + 2;
    if (!overlap_) return;
    // Every thread that writes gets its own connection; WAL lets them interleave safely.
    cache_ledger_ = std::make_unique<ledger>(p.options_.workdir / "state.sqlite");
    writer_ledger_ = std::make_unique<ledger>(p.options_.workdir / "state.sqlite");
    threads_.reserve(workers_ + 1);
    for (std::size_t i = 0; i < workers_; ++i) threads_.emplace_back([this] { guarded([this] { embed_loop(); }); });
    threads_.emplace_back([this] { guarded([this] { write_loop(); }); });
  }

  ~ingest_stages() { stop_threads(); }

  // Hands a batch over. Blocks (checking `ctx`) while max_alive_ batches are in flight, or, when
  // `drain`, until every earlier batch is written.
  void submit(std::shared_ptr<batch> b, std::vector<embed_job> jobs, bool drain, run_context& ctx) {
    if (!overlap_) {
      for (auto& job : jobs) run_job(job, &ctx);
      if (!jobs.empty()) failpoint("ingest.batch_embedded");
      write(*b, *p_.ledger_);
      ctx.checkpoint();
      return;
    }
    wait_until(ctx, [&] { return drain ? alive_ == 0 : alive_ < max_alive_; });
    {
      std::lock_guard<std::mutex> lock(mutex_);
      b->jobs_pending = jobs.size();
      for (auto& job : jobs) jobs_.push_back(std::move(job));
      writes_.push_back(std::move(b));
      ++alive_;
    }
    work_.notify_all();
  }

  // Waits until every submitted batch is written, then stops the threads. Rethrows the first error
  // of any stage.
  void finish(run_context& ctx) {
    if (!overlap_) return;
    wait_until(ctx, [&] { return alive_ == 0; });
    stop_threads();
    rethrow_if_failed();
  }

  // Stops everything after an error on the calling thread; batches not yet committed are simply
  // ingested again by the next run (their intent is in the ledger, their vectors in the cache).
  void abandon() noexcept { stop_threads(); }

  // A batch's own texts are embedded here only when they are in no earlier batch still in flight.
  std::shared_ptr<vector_slot> in_flight(const std::string& text_hash) {
    auto it = in_flight_.find(text_hash);
    if (it == in_flight_.end()) return nullptr;
    auto slot = it->second.lock();
    if (!slot) in_flight_.erase(it);
    return slot;
  }
  void remember(const std::string& text_hash, const std::shared_ptr<vector_slot>& slot) {
    if (in_flight_.size() > 4 * max_alive_ * std::max<std::size_t>(p_.options_.batch_records, 1)) {
      for (auto it = in_flight_.begin(); it != in_flight_.end();)
        it = it->second.expired() ? in_flight_.erase(it) : std::next(it);
    }
    in_flight_[text_hash] = slot;
  }

  void merge_into(ingest_report& report) {
    report.chunks_embedded += counts_.chunks_embedded;
    report.chunks_written += counts_.chunks_written;
    report.stale_chunks_deleted += counts_.stale_chunks_deleted;
    report.upsert_requests += counts_.upsert_requests;
    report.documents_written += counts_.documents_written;
    report.records_skipped += counts_.records_skipped;
    for (auto& id : counts_.skipped_ids)
      if (report.skipped_ids.size() < max_examples_) report.skipped_ids.push_back(std::move(id));
  }

  std::size_t embed_batch_size() const { return std::max<std::size_t>(1, p_.embedder_->max_batch()); }

 private:
  template <typename Pred>
  void wait_until(run_context& ctx, Pred ready) {
    for (;;) {
      {
        std::unique_lock<std::mutex> lock(mutex_);
        done_.wait_for(lock, std::chrono::milliseconds(50), [&] { return failed_ || ready(); });
        if (failed_) break;
        if (ready()) return;
      }
      ctx.checkpoint();
    }
    rethrow_if_failed();
  }

  void rethrow_if_failed() {
    std::exception_ptr e;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      e = error_;
    }
    if (e) {
      stop_threads();
      std::rethrow_exception(e);
    }
  }

  template <typename Fn>
  void guarded(Fn fn) {
    try {
      fn();
    } catch (...) {
      {
        std::lock_guard<std::mutex> lock(mutex_);
        if (!error_) error_ = std::current_exception();
        failed_ = true;
      }
      work_.notify_all();
      done_.notify_all();
    }
  }

  void stop_threads() noexcept {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      stopping_ = true;
    }
    work_.notify_all();
    done_.notify_all();
    for (auto& t : threads_)
      if (t.joinable()) t.join();
    threads_.clear();
  }

  void embed_loop() {
    // Long waits inside the embedder (retries, rate limits) end when the stages stop.
    run_context stop_ctx(
        [this](const progress&) {
          std::lock_guard<std::mutex> lock(mutex_);
          return stopping_ || failed_;
        },
        std::chrono::milliseconds(100));
    for (;;) {
      embed_job job;
      {
        std::unique_lock<std::mutex> lock(mutex_);
        work_.wait(lock, [&] { return stopping_ || failed_ || !jobs_.empty(); });
        if (stopping_ || failed_) return;
        job = std::move(jobs_.front());
        jobs_.pop_front();
      }
      std::size_t n = run_job(job, &stop_ctx);
      bool last = false;
      {
        std::lock_guard<std::mutex> lock(mutex_);
        counts_.chunks_embedded += static_cast<std::int64_t>(n);
        last = --job.owner->jobs_pending == 0;
      }
      if (last) failpoint("ingest.batch_embedded");
      work_.notify_all();  // the writer may be waiting for this batch
    }
  }

  // Embeds one job, checks what came back and stores it in the cache part by part, as the embedder
  // hands parts over: when a later part fails (a spent quota, a refused key), what was already paid
  // for is kept and a rerun embeds only the rest. Returns the texts embedded.
  std::size_t run_job(embed_job& job, run_context* ctx) {
    auto& emb = *p_.embedder_;
    const std::size_t n = job.texts.size();
    std::vector<char> got(n, 0);
    std::size_t received = 0;
    emb.embed_parts(
        job.texts,
        [&](std::size_t first, std::vector<std::vector<float>>& out) {
          if (first + out.size() > n)
            throw embed_error(fmt::format("embedder {} returned vectors {}..{} for {} texts", emb_id_, first,
                                          first + out.size(), n));
          std::vector<std::pair<std::string, std::vector<float>>> fresh;
          fresh.reserve(out.size());
          for (std::size_t k = 0; k < out.size(); ++k) {
            if (static_cast<int>(out[k].size()) != emb.dimension())
              throw embed_error(fmt::format("embedder {} returned a vector of dimension {}, expected {}", emb_id_,
                                            out[k].size(), emb.dimension()));
            if (got[first + k]++) throw embed_error(fmt::format("embedder {} returned text {} twice", emb_id_, first + k));
            job.owner->slots[job.slots[first + k]]->values = out[k];
            fresh.emplace_back(job.hashes[first + k], std::move(out[k]));
          }
          if (overlap_) {
            std::lock_guard<std::mutex> lock(cache_mutex_);
            cache_ledger_->store_embeddings(emb_id_, fresh);
          } else {
            p_.ledger_->store_embeddings(emb_id_, fresh);
          }
          received += fresh.size();
        },
        ctx);
    if (received != n)
      throw embed_error(fmt::format("embedder {} returned {} vectors for {} texts", emb_id_, received, n));
    if (!overlap_) counts_.chunks_embedded += static_cast<std::int64_t>(n);
    return n;
  }

  void write_loop() {
    for (;;) {
      std::shared_ptr<batch> b;
      {
        std::unique_lock<std::mutex> lock(mutex_);
        work_.wait(lock, [&] {
          return stopping_ || failed_ || (!writes_.empty() && writes_.front()->jobs_pending == 0);
        });
        if (failed_) return;
        if (writes_.empty() || writes_.front()->jobs_pending != 0) {
          if (stopping_) return;
          continue;
        }
        b = std::move(writes_.front());
        writes_.pop_front();
      }
      write(*b, *writer_ledger_);
      {
        std::lock_guard<std::mutex> lock(mutex_);
        --alive_;
      }
      done_.notify_all();
    }
  }

  void skip(const std::string& id, std::string_view why) {
    ++counts_.records_skipped;
    if (counts_.skipped_ids.size() < max_examples_) counts_.skipped_ids.push_back(id);
    logger()->error("record {} was skipped: {}", id, why);
  }

  // Upserts a batch whose vectors are all there, deletes chunks its documents no longer have, and
  // commits the documents. Only the writer (or the calling thread, without overlap) runs this.
  void write(batch& b, ledger& l) {
    sink& snk = *p_.sink_;
    std::vector<record> records;
    const std::size_t max_records = std::max<std::size_t>(1, snk.max_batch());
    auto send = [&]() {
      if (records.empty()) return;
      std::int64_t acked = snk.upsert(records);
      ++counts_.upsert_requests;
      std::int64_t not_sent = 0;
      for (auto& id : snk.take_unsendable()) {
        skip(id, "it is larger than the sink's request limit even alone");
        refused_.insert(std::move(id));
        ++not_sent;  // accounted for: reported, never recorded as live
      }
      acked += not_sent;
      if (acked != static_cast<std::int64_t>(records.size())) {
        std::string ids;
        for (std::size_t k = 0; k < records.size() && k < 20; ++k) ids += (k ? ", " : "") + records[k].id;
        throw sink_error(fmt::format("{} acknowledged {} of {} records; the batch held {}{}", snk.describe(), acked,
                                     records.size(), ids, records.size() > 20 ? ", ..." : ""));
      }
      counts_.chunks_written += acked - not_sent;
      records.clear();
    };
    for (const auto& d : b.docs) {
      for (const auto& pc : d.chunks) {
        records.push_back({pc.c.id, b.slots[pc.slot]->values, pc.metadata_json});
        if (records.size() >= max_records) send();
      }
    }
    send();
    failpoint("ingest.batch_upserted");
    for (const auto& d : b.docs) {
      std::vector<std::string> keep;
      keep.reserve(d.chunks.size());
      for (const auto& pc : d.chunks) keep.push_back(pc.c.id);
      auto stale = l.stale_chunks(sink_id_, d.id, keep);
      if (!stale.empty()) {
        snk.remove(stale);
        counts_.stale_chunks_deleted += static_cast<std::int64_t>(stale.size());
      }
    }
    {
      sql::transaction tx(l.db());
      for (const auto& d : b.docs) {
        std::vector<chunk_row> rows;
        rows.reserve(d.chunks.size());
        for (const auto& pc : d.chunks)
          if (!refused_.count(pc.c.id)) rows.push_back({pc.c.id, pc.meta_hash});
        l.commit_document(sink_id_, d.id, d.partition, d.content_hash, d.updated_at, rows);
      }
      tx.commit();
    }
    failpoint("ingest.batch_committed");
    counts_.documents_written += static_cast<std::int64_t>(b.docs.size());
  }

  pipeline& p_;
  std::string emb_id_;
  std::string sink_id_;
  std::size_t max_examples_;
  bool overlap_ = true;
  std::size_t workers_ = 1;
  std::size_t max_alive_ = 3;

  std::unique_ptr<ledger> cache_ledger_;
  std::unique_ptr<ledger> writer_ledger_;
  std::mutex cache_mutex_;

  std::mutex mutex_;
  std::condition_variable work_;  // wakes embed workers and the writer
  std::condition_variable done_;  // wakes the calling thread
  std::deque<embed_job> jobs_;
  std::deque<std::shared_ptr<batch>> writes_;
  std::size_t alive_ = 0;
  bool stopping_ = false;
  bool failed_ = false;
  std::exception_ptr error_;
  stage_counts counts_;
  std::unordered_set<std::string> refused_;  // ids the sink would not send: never recorded as live
  std::vector<std::thread> threads_;

  std::unordered_map<std::string, std::weak_ptr<vector_slot>> in_flight_;  // calling thread only
};

ingest_report pipeline::ingest(run_context& ctx) { return ingest_from(ctx, nullptr, {}); }

ingest_report pipeline::ingest_from(run_context& ctx, detail::fetch_feed* feed,
                                    const std::vector<partition_plan>& order) {
  if (!embedder_ || !sink_) throw config_error("ingest needs an embedder and a sink");
  const std::string kind = source_->kind();
  const std::string sink_id = sink_->identity();
  const std::string emb_id = embedder_->identity();
  ingest_report report;

  sink_stats before = sink_->stats();
  if (before.dimension != 0 && before.dimension != embedder_->dimension())
    throw config_error(fmt::format("the sink ({}) holds vectors of dimension {}, but the embedder ({}) makes {}; "
                                   "use a matching embedder.dimension or another index",
                                   sink_->describe(), before.dimension, emb_id, embedder_->dimension()));
  if (!ledger_->sink_baseline(sink_id)) {
    ledger_->set_sink_baseline(sink_id, before.count);
    if (before.count > 0)
      logger()->info("{} already holds {} records; verification expects them plus ours", sink_->describe(),
                     before.count);
  }

  // While a fetch runs beside the ingest, progress shows the fetch (pages); then the ingest.
  bool showing_fetch = feed != nullptr;
  auto show_progress = [&] {
    if (!showing_fetch) return;
    if (feed->done()) {
      showing_fetch = false;
      ctx.begin_phase("ingest", "documents");
      ctx.state().done = report.documents_seen;
      return;
    }
    progress p = feed->published();
    if (p.phase.empty()) return;
    ctx.state() = std::move(p);
  };
  if (feed)
    ctx.begin_phase("fetch", "pages");
  else
    ctx.begin_phase("ingest", "documents");
  const std::int64_t calls_before = embedder_->calls();

  // Documents seen in this run, for dedup by id (latest updated_at wins, the first on a tie).
  sql::database seen("", "ingest scratch database");
  seen.exec("PRAGMA journal_mode=OFF; PRAGMA synchronous=OFF;"
            "CREATE TABLE seen(id TEXT PRIMARY KEY, updated_at TEXT NOT NULL) WITHOUT ROWID; BEGIN");
  auto seen_get = seen.prepare("SELECT updated_at FROM seen WHERE id=?");
  auto seen_put = seen.prepare("INSERT OR REPLACE INTO seen(id, updated_at) VALUES(?,?)");
  std::int64_t seen_uncommitted = 0;

  const std::size_t meta_limit = sink_->metadata_limit();
  sanitize_options sanitize;
  if (meta_limit) sanitize.max_bytes = meta_limit;
  auto skip = [&](const std::string& id, std::string_view why) {
    ++report.records_skipped;
    if (report.skipped_ids.size() < options_.max_examples) report.skipped_ids.push_back(id);
    logger()->error("record {} was skipped: {}", id, why);
  };

  ingest_stages stages(*this, options_.max_examples);
  auto current = std::make_shared<batch>();
  bool drain_first = false;  // the batch holds a newer version of a document an earlier batch has in flight
  std::uint64_t next_seq = 0;

  auto flush = [&]() {
    if (current->docs.empty()) return;
    batch& b = *current;
    b.seq = next_seq++;
    // 1. Intent: the chunk ids about to be written, so no crash can leave an id the ledger does not know.
    {
      sql::transaction tx(ledger_->db());
      for (const auto& d : b.docs) {
        std::vector<chunk_row> rows;
        rows.reserve(d.chunks.size());
        for (const auto& pc : d.chunks) rows.push_back({pc.c.id, pc.meta_hash});
        ledger_->begin_document(sink_id, d.id, rows);
      }
      tx.commit();
    }
    // 2. Each distinct text once: from the cache, from an earlier batch still in flight, or to embed.
    std::vector<embed_job> jobs;
    const std::size_t step = stages.embed_batch_size();
    for (auto& d : b.docs) {
      for (auto& pc : d.chunks) {
        const std::string& h = pc.c.text_hash;
        auto found = b.slot_index.find(h);
        if (found != b.slot_index.end()) {
          pc.slot = found->second;
          continue;
        }
        pc.slot = b.slots.size();
        b.slot_index.emplace(h, pc.slot);
        if (auto shared = stages.in_flight(h)) {
          b.slots.push_back(std::move(shared));
          ++report.embedding_cache_hits;
          continue;
        }
        auto slot = std::make_shared<vector_slot>();
        if (auto cached = ledger_->cached_embedding(emb_id, h)) {
          slot->values = std::move(*cached);
          b.slots.push_back(std::move(slot));
          ++report.embedding_cache_hits;
          continue;
        }
        stages.remember(h, slot);
        b.slots.push_back(std::move(slot));
        if (jobs.empty() || jobs.back().texts.size() >= step) jobs.push_back(embed_job{current, {}, {}, {}});
        jobs.back().slots.push_back(pc.slot);
        jobs.back().texts.push_back(pc.c.text);
        jobs.back().hashes.push_back(h);
      }
    }
    stages.submit(std::move(current), std::move(jobs), drain_first, ctx);
    current = std::make_shared<batch>();
    drain_first = false;
  };

  auto on_document = [&](document&& doc) {
    ++report.documents_seen;
    if (showing_fetch)
      show_progress();
    else
      ctx.state().done = report.documents_seen;
    std::string hash = doc.content_hash();

    seen_get.bind(1, doc.id);
    std::optional<std::string> seen_at;
    if (seen_get.step()) seen_at = seen_get.column_string(0);
    seen_get.reset();

    if (seen_at) {
      // The same id earlier in this run: a strictly later version replaces it, anything else loses.
      if (!(doc.updated_at > *seen_at)) {
        ++report.documents_superseded;
        return;
      }
      // The earlier version may be in a batch already handed over: write that one first.
      if (!current->doc_index.count(doc.id)) drain_first = true;
    } else {
      auto stored = ledger_->document(sink_id, doc.id);
      if (stored && stored->complete && stored->content_hash == hash) {
        ++report.documents_unchanged;
        seen_put.bind(1, doc.id).bind(2, doc.updated_at);
        seen_put.run();
        return;
      }
      if (stored && stored->complete && doc.updated_at < stored->updated_at) {
        ++report.documents_superseded;
        seen_put.bind(1, doc.id).bind(2, stored->updated_at);
        seen_put.run();
        return;
      }
      if (!stored) {
        // Reconcile deleted it: only a later version than the one it deleted comes back.
        if (auto gone = ledger_->tombstone(sink_id, doc.id); gone && !(doc.updated_at > *gone)) {
          ++report.documents_deleted_upstream;
          seen_put.bind(1, doc.id).bind(2, *gone);
          seen_put.run();
          return;
        }
      }
    }
    seen_put.bind(1, doc.id).bind(2, doc.updated_at);
    seen_put.run();
    if (++seen_uncommitted >= 10000) {
      seen.exec("COMMIT; BEGIN");
      seen_uncommitted = 0;
    }

    pending_doc pd;
    pd.id = doc.id;
    pd.partition = doc.partition;
    pd.content_hash = hash;
    pd.updated_at = doc.updated_at;
    for (auto& c : chunk_document(doc, options_.chunking)) {
      c.id = sink_->fit_record_id(c.id);
      std::string meta = record_metadata(doc, c);
      if (meta_limit && !fit_metadata(meta, sanitize, report.metadata)) {
        skip(c.id, "its metadata keys alone exceed the sink's limit");
        continue;
      }
      std::string meta_hash = hash_hex(meta);
      pd.chunks.push_back({std::move(c), std::move(meta), std::move(meta_hash), 0});
    }
    batch& b = *current;
    auto it = b.doc_index.find(pd.id);
    if (it != b.doc_index.end()) {
      b.chunk_count -= b.docs[it->second].chunks.size();
      b.chunk_count += pd.chunks.size();
      b.docs[it->second] = std::move(pd);
    } else {
      b.chunk_count += pd.chunks.size();
      b.doc_index.emplace(pd.id, b.docs.size());
      b.docs.push_back(std::move(pd));
    }
    if (b.chunk_count >= options_.batch_records) flush();
    ctx.checkpoint();
  };

  try {
    std::int64_t unfetched = 0;
    std::unordered_set<std::string> visited;
    auto ingest_partition = [&](const std::string& name, bool live) {
      if (!showing_fetch) ctx.state().partition = name;
      detail::journal_pages pages(journal_, *ledger_, options_.workdir, kind, name, live ? feed : nullptr, &ctx,
                                  show_progress);
      source_->normalize(name, pages, on_document, ctx);
    };
    if (feed && source_->pages_self_contained()) {
      // Follow the fetch page by page, partition by partition, in the order it fetches them.
      for (const auto& p : order) {
        visited.insert(p.name);
        ingest_partition(p.name, true);
      }
    } else if (feed) {
      // Pages that need their neighbours (or other partitions) wait for the whole fetch.
      std::uint64_t v = feed->version();
      while (!feed->done()) {
        feed->wait(v, std::chrono::milliseconds(50));
        v = feed->version();
        show_progress();
        ctx.checkpoint();
      }
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
      logger()->warn("{} partitions are not completely fetched and were not ingested; run fetch first", unfetched);
  } catch (...) {
    stages.abandon();
    throw;
  }
  seen.exec("COMMIT");
  stages.merge_into(report);
  report.embed_calls = embedder_->calls() - calls_before;
  logger()->info("ingest: {} documents seen, {} written, {} unchanged; {} chunks written, {} embedded, {} from cache",
                 report.documents_seen, report.documents_written, report.documents_unchanged, report.chunks_written,
                 report.chunks_embedded, report.embedding_cache_hits);
  return report;
}

}  // namespace backfill
