#include "backfill/pipeline.hpp"

#include <algorithm>
#include <chrono>
#include <random>
#include <thread>
#include <unordered_map>
#include <unordered_set>

#include <fmt/format.h>

#include "backfill/errors.hpp"
#include "backfill/failpoint.hpp"
#include "backfill/hash.hpp"
#include "backfill/http.hpp"
#include "backfill/json.hpp"
#include "backfill/log.hpp"
#include "backfill/sanitize.hpp"

namespace backfill {
namespace fs = std::filesystem;

namespace {

std::string relative_to(const fs::path& path, const fs::path& base) {
  std::error_code ec;
  auto rel = fs::relative(path, base, ec);
  return ec ? path.string() : rel.string();
}

std::string recovery_hint(std::string_view partition) {
  return fmt::format("refetch it with `backfill fetch CONFIG --refetch {}` (Python: pipeline.fetch(refetch=[\"{}\"]))",
                     partition, partition);
}

// Journal pages of one partition, read in order; every body is checked against the hash the ledger
// recorded when the page was written, so a damaged page is never normalized.
class journal_pages final : public page_reader {
 public:
  journal_pages(const journal& j, ledger& l, fs::path workdir, std::string source, std::string partition)
      : journal_(j), ledger_(l), workdir_(std::move(workdir)), source_(std::move(source)),
        partition_(std::move(partition)) {}

  void for_each(const std::function<void(std::int64_t, const std::string&, const std::string&)>& fn) override {
    for_each_in(partition_, fn);
  }

  void for_each_in(std::string_view partition,
                   const std::function<void(std::int64_t, const std::string&, const std::string&)>& fn) override {
    for (const auto& page : ledger_.pages(source_, partition)) {
      fs::path path = workdir_ / page.path;
      journal_.read_page(path, buffer_);
      if (hash_hex(buffer_) != page.hash)
        throw journal_error(fmt::format("journal page {} is damaged ({} bytes on disk, {} when written); {}",
                                        page.path, buffer_.size(), page.bytes, recovery_hint(partition)),
                            path.string());
      fn(page.seq, buffer_, page.path);
    }
  }

 private:
  const journal& journal_;
  ledger& ledger_;
  fs::path workdir_;
  std::string source_;
  std::string partition_;
  std::string buffer_;
};

// Journals each page, then records it and its cursor in the ledger: a page is durable before its
// cursor moves, so a crash anywhere re-reads at most the one page that was not yet recorded.
class journaling_sink final : public page_sink {
 public:
  journaling_sink(const journal& j, ledger& l, const fs::path& workdir, std::string source, std::string partition,
                  std::int64_t next_seq, fetch_report& report, run_context& ctx)
      : journal_(j), ledger_(l), workdir_(workdir), source_(std::move(source)), partition_(std::move(partition)),
        seq_(next_seq), report_(report), ctx_(ctx) {}

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
  const std::string kind = source_->kind();
  auto planned = plan(ctx);
  for (const auto& name : refetch) {
    bool known = std::any_of(planned.partitions.begin(), planned.partitions.end(),
                             [&](const auto& p) { return p.name == name; });
    if (!known) throw config_error(fmt::format("refetch: no partition named '{}' in {}", name, source_->describe()));
    journal_.clear_partition(kind, name);
    ledger_->reset_partition(kind, name);
    logger()->info("partition {} will be fetched again from the start", name);
  }
  std::int64_t total_pages = 0;
  bool totals_known = true;
  for (const auto& p : planned.partitions) {
    if (p.estimated_pages < 0) totals_known = false;
    total_pages += std::max<std::int64_t>(p.estimated_pages, 0);
  }
  ctx.begin_phase("fetch", "pages", totals_known ? total_pages : -1);

  fetch_report report;
  for (const auto& p : planned.partitions) {
    ++report.partitions;
    auto row = ledger_->partition(kind, p.name);
    bool reopened = false;
    if (row && row->status == "done") {
      reopened = true;
      if (!source_->incremental()) {
        ++report.partitions_skipped;
        ctx.state().done += row->pages;
        continue;
      }
      // An incremental source picks up what changed since the partition's highest watermark.
      std::string cursor = source_->reopen_cursor(p, row->watermark);
      ledger_->reopen_partition(kind, p.name, cursor);
      row = ledger_->partition(kind, p.name);
      logger()->info("{}: fetching what changed since {}", p.label.empty() ? p.name : p.label,
                     row->watermark.empty() ? "the start" : row->watermark);
    }
    std::int64_t next_seq = row ? row->pages : 0;
    std::string cursor = row ? row->cursor : "";
    ctx.state().done += next_seq;
    ctx.state().partition = p.label.empty() ? p.name : p.label;
    if (next_seq > 0) logger()->info("resuming {} after {} journaled pages", ctx.state().partition, next_seq);
    journaling_sink out(journal_, *ledger_, options_.workdir, kind, p.name, next_seq, report, ctx);
    if (!reopened && next_seq > 0 && !cursor.empty()) {
      auto pages = ledger_->pages(kind, p.name);
      if (!pages.empty()) out.resume_after(pages.back().hash, cursor);
    }
    source_->fetch(p, cursor, out, ctx);
    ledger_->finish_partition(kind, p.name);
  }
  report.pages_total = ledger_->page_count(kind);
  logger()->info("fetch: {} pages read ({} bytes), {} journaled in all", report.pages_fetched,
                 report.bytes_fetched, report.pages_total);
  return report;
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

// --- ingest ------------------------------------------------------------------------------------

struct pipeline::ingest_state {
  struct pending_chunk {
    chunk c;
    std::string metadata_json;
    std::string meta_hash;
  };
  struct pending_doc {
    std::string id;
    std::string partition;
    std::string content_hash;
    std::string updated_at;
    std::vector<pending_chunk> chunks;
  };
  std::vector<pending_doc> docs;
  std::unordered_map<std::string, std::size_t> index;  // doc id -> position in docs
  std::size_t chunk_count = 0;
};

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

}  // namespace

ingest_report pipeline::ingest(run_context& ctx) {
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

  ctx.begin_phase("ingest", "documents");
  const std::int64_t calls_before = embedder_->calls();

  // Documents seen in this run, for dedup by id (latest updated_at wins, the first on a tie).
  sql::database seen("", "ingest scratch database");
  seen.exec("PRAGMA journal_mode=OFF; PRAGMA synchronous=OFF;"
            "CREATE TABLE seen(id TEXT PRIMARY KEY, updated_at TEXT NOT NULL) WITHOUT ROWID; BEGIN");
  auto seen_get = seen.prepare("SELECT updated_at FROM seen WHERE id=?");
  auto seen_put = seen.prepare("INSERT OR REPLACE INTO seen(id, updated_at) VALUES(?,?)");
  std::int64_t seen_uncommitted = 0;

  ingest_state batch;
  const std::size_t meta_limit = sink_->metadata_limit();
  sanitize_options sanitize;
  if (meta_limit) sanitize.max_bytes = meta_limit;
  std::unordered_set<std::string> refused;  // ids the sink would not send: never recorded as live
  auto skip = [&](const std::string& id, std::string_view why) {
    ++report.records_skipped;
    if (report.skipped_ids.size() < options_.max_examples) report.skipped_ids.push_back(id);
    logger()->error("record {} was skipped: {}", id, why);
  };

  auto flush = [&]() {
    if (batch.docs.empty()) return;
    // 1. Intent: the chunk ids about to be written, so no crash can leave an id the ledger does not know.
    {
      sql::transaction tx(ledger_->db());
      for (const auto& d : batch.docs) {
        std::vector<chunk_row> rows;
        rows.reserve(d.chunks.size());
        for (const auto& pc : d.chunks) rows.push_back({pc.c.id, pc.meta_hash});
        ledger_->begin_document(sink_id, d.id, rows);
      }
      tx.commit();
    }
    // 2. Embeddings: cache first; each distinct text embedded once; new vectors cached before upsert.
    std::unordered_map<std::string, std::vector<float>> vectors;
    std::vector<std::string_view> todo_texts;
    std::vector<std::string> todo_hashes;
    for (const auto& d : batch.docs) {
      for (const auto& pc : d.chunks) {
        if (vectors.count(pc.c.text_hash)) continue;
        if (auto cached = ledger_->cached_embedding(emb_id, pc.c.text_hash)) {
          vectors.emplace(pc.c.text_hash, std::move(*cached));
          ++report.embedding_cache_hits;
        } else {
          vectors.emplace(pc.c.text_hash, std::vector<float>{});
          todo_texts.push_back(pc.c.text);
          todo_hashes.push_back(pc.c.text_hash);
        }
      }
    }
    // Each part of an embed call is cached as soon as it arrives, so when a later part fails (a spent
    // quota, a refused key) a rerun pays only for what was not embedded.
    const std::size_t step = std::max<std::size_t>(1, embedder_->max_batch());
    for (std::size_t i = 0; i < todo_texts.size(); i += step) {
      std::size_t n = std::min(step, todo_texts.size() - i);
      std::vector<std::string_view> texts(todo_texts.begin() + static_cast<std::ptrdiff_t>(i),
                                          todo_texts.begin() + static_cast<std::ptrdiff_t>(i + n));
      std::vector<char> got(n, 0);
      std::size_t received = 0;
      embedder_->embed_parts(
          texts,
          [&](std::size_t first, std::vector<std::vector<float>>& out) {
            if (first + out.size() > n)
              throw embed_error(fmt::format("embedder {} returned vectors {}..{} for {} texts", emb_id, first,
                                            first + out.size(), n));
            std::vector<std::pair<std::string, std::vector<float>>> fresh;
            fresh.reserve(out.size());
            for (std::size_t k = 0; k < out.size(); ++k) {
              if (static_cast<int>(out[k].size()) != embedder_->dimension())
                throw embed_error(fmt::format("embedder {} returned a vector of dimension {}, expected {}", emb_id,
                                              out[k].size(), embedder_->dimension()));
              if (got[first + k]++)
                throw embed_error(fmt::format("embedder {} returned text {} twice", emb_id, first + k));
              vectors[todo_hashes[i + first + k]] = out[k];
              fresh.emplace_back(todo_hashes[i + first + k], std::move(out[k]));
            }
            ledger_->store_embeddings(emb_id, fresh);
            received += out.size();
            report.chunks_embedded += static_cast<std::int64_t>(out.size());
          },
          &ctx);
      if (received != n)
        throw embed_error(fmt::format("embedder {} returned {} vectors for {} texts", emb_id, received, n));
      ctx.checkpoint();
    }
    failpoint("ingest.batch_embedded");
    // 3. Upsert, checking every acknowledgement.
    std::vector<record> records;
    const std::size_t max_records = std::max<std::size_t>(1, sink_->max_batch());
    auto send = [&]() {
      if (records.empty()) return;
      std::int64_t acked = sink_->upsert(records);
      ++report.upsert_requests;
      std::int64_t not_sent = 0;
      for (auto& id : sink_->take_unsendable()) {
        skip(id, "it is larger than the sink's request limit even alone");
        refused.insert(std::move(id));
        ++not_sent;  // accounted for: reported, never recorded as live
      }
      acked += not_sent;
      if (acked != static_cast<std::int64_t>(records.size())) {
        std::string ids;
        for (std::size_t k = 0; k < records.size() && k < 20; ++k) ids += (k ? ", " : "") + records[k].id;
        throw sink_error(fmt::format("{} acknowledged {} of {} records; the batch held {}{}", sink_->describe(), acked,
                                     records.size(), ids, records.size() > 20 ? ", ..." : ""));
      }
      report.chunks_written += acked - not_sent;
      records.clear();
    };
    for (const auto& d : batch.docs) {
      for (const auto& pc : d.chunks) {
        records.push_back({pc.c.id, vectors.at(pc.c.text_hash), pc.metadata_json});
        if (records.size() >= max_records) send();
      }
    }
    send();
    failpoint("ingest.batch_upserted");
    // 4. Chunks a changed document no longer has.
    for (const auto& d : batch.docs) {
      std::vector<std::string> keep;
      keep.reserve(d.chunks.size());
      for (const auto& pc : d.chunks) keep.push_back(pc.c.id);
      auto stale = ledger_->stale_chunks(sink_id, d.id, keep);
      if (!stale.empty()) {
        sink_->remove(stale);
        report.stale_chunks_deleted += static_cast<std::int64_t>(stale.size());
      }
    }
    // 5. Commit: the documents are now ingested.
    {
      sql::transaction tx(ledger_->db());
      for (const auto& d : batch.docs) {
        std::vector<chunk_row> rows;
        rows.reserve(d.chunks.size());
        for (const auto& pc : d.chunks)
          if (!refused.count(pc.c.id)) rows.push_back({pc.c.id, pc.meta_hash});
        ledger_->commit_document(sink_id, d.id, d.partition, d.content_hash, d.updated_at, rows);
      }
      tx.commit();
    }
    failpoint("ingest.batch_committed");
    report.documents_written += static_cast<std::int64_t>(batch.docs.size());
    batch.docs.clear();
    batch.index.clear();
    batch.chunk_count = 0;
  };

  auto on_document = [&](document&& doc) {
    ++report.documents_seen;
    ++ctx.state().done;
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
    }
    seen_put.bind(1, doc.id).bind(2, doc.updated_at);
    seen_put.run();
    if (++seen_uncommitted >= 10000) {
      seen.exec("COMMIT; BEGIN");
      seen_uncommitted = 0;
    }

    ingest_state::pending_doc pd;
    pd.id = doc.id;
    pd.partition = doc.partition;
    pd.content_hash = hash;
    pd.updated_at = doc.updated_at;
    for (auto& c : chunk_document(doc, options_.chunking)) {
      c.id = sink_->fit_record_id(c.id);
      std::string meta = record_metadata(doc, c);
      if (meta_limit && meta.size() > meta_limit) {
        auto fitted = sanitize_metadata(meta, sanitize, report.metadata);
        if (!fitted) {
          skip(c.id, "its metadata keys alone exceed the sink's limit");
          continue;
        }
        meta = std::move(*fitted);
      }
      std::string meta_hash = hash_hex(meta);
      pd.chunks.push_back({std::move(c), std::move(meta), std::move(meta_hash)});
    }
    auto it = batch.index.find(pd.id);
    if (it != batch.index.end()) {
      batch.chunk_count -= batch.docs[it->second].chunks.size();
      batch.chunk_count += pd.chunks.size();
      batch.docs[it->second] = std::move(pd);
    } else {
      batch.chunk_count += pd.chunks.size();
      batch.index.emplace(pd.id, batch.docs.size());
      batch.docs.push_back(std::move(pd));
    }
    if (batch.chunk_count >= options_.batch_records) flush();
    ctx.checkpoint();
  };

  std::int64_t unfetched = 0;
  for (const auto& part : ledger_->partitions(kind)) {
    if (part.status != "done") {
      ++unfetched;
      continue;
    }
    ctx.state().partition = part.name;
    journal_pages pages(journal_, *ledger_, options_.workdir, kind, part.name);
    source_->normalize(part.name, pages, on_document, ctx);
    flush();
  }
  flush();
  seen.exec("COMMIT");
  if (unfetched > 0)
    logger()->warn("{} partitions are not completely fetched and were not ingested; run fetch first", unfetched);
  report.embed_calls = embedder_->calls() - calls_before;
  logger()->info("ingest: {} documents seen, {} written, {} unchanged; {} chunks written, {} embedded, {} from cache",
                 report.documents_seen, report.documents_written, report.documents_unchanged, report.chunks_written,
                 report.chunks_embedded, report.embedding_cache_hits);
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
