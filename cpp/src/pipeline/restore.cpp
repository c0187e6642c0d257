#include "backfill/pipeline/restore.hpp"

#include <algorithm>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include <simdjson.h>

#include "backfill/core/errors.hpp"
#include "backfill/core/hash.hpp"
#include "backfill/core/json.hpp"
#include "backfill/core/log.hpp"
#include "backfill/ingest/record_builder.hpp"

namespace backfill {
namespace {

std::string string_field(simdjson::dom::object& obj, std::string_view key) {
  std::string_view v;
  if (obj[key].get_string().get(v) != simdjson::SUCCESS) return {};
  return std::string(v);
}

// What restore keeps of one record, grouped by document.
struct restored_doc {
  std::string partition;
  std::string content_hash;
  std::string updated_at;
  std::int64_t expected_chunks = 0;
  std::vector<chunk_row> chunks;
};

std::int64_t number_field(simdjson::dom::object& obj, std::string_view key) {
  double v = 0;
  if (obj[key].get_double().get(v) != simdjson::SUCCESS) return 0;
  return static_cast<std::int64_t>(v);
}

}  // namespace

restore_result restore_from_sink(sink& snk, ledger& book, std::string_view source_kind,
                                 std::string_view embedder_identity, int dimension, run_context& ctx,
                                 std::string_view id_prefix, std::int64_t sink_count) {
  restore_result out;
  const std::string sink_id = snk.identity();
  const std::size_t batch = std::min<std::size_t>(1000, std::max<std::size_t>(1, snk.max_batch()));
  simdjson::dom::parser parser;
  std::string after;
  // The documents, whole: a document's chunks may come in different listings (and fetch answers in
  // any order). Held until the listing ends: an id and a hash per record.
  std::map<std::string, restored_doc> docs;
  ctx.begin_phase("restore", "records", sink_count);
  for (;;) {
    std::vector<std::string> ids;
    try {
      ids = snk.list(id_prefix, after, batch);
    } catch (const sink_error& e) {
      logger()->warn("restore: {} cannot list its records ({}); every document is written again",
                     snk.describe(), e.what());
      out.supported = false;
      return out;
    }
    if (ids.empty()) break;
    after = ids.back();
    out.listed += static_cast<std::int64_t>(ids.size());
    std::vector<std::pair<std::string, std::vector<float>>> vectors;
    for (auto& rec : snk.fetch(ids)) {
      simdjson::padded_string padded(rec.metadata_json);
      simdjson::dom::object meta;
      if (parser.parse(padded).get_object().get(meta) != simdjson::SUCCESS) continue;
      if (string_field(meta, source_kind_key) != source_kind) continue;
      std::string doc_id = string_field(meta, "doc_id");
      std::string doc_hash = string_field(meta, doc_hash_key);
      if (doc_id.empty() || doc_hash.empty()) continue;
      std::string meta_hash;
      try {
        meta_hash = hash_hex(json::canonicalize(rec.metadata_json));
      } catch (const error&) {
        continue;
      }
      auto [it, fresh] = docs.try_emplace(doc_id);
      if (fresh)
        it->second = restored_doc{string_field(meta, "partition"),
                                  doc_hash,
                                  string_field(meta, "updated_at"),
                                  number_field(meta, chunk_count_key),
                                  {}};
      it->second.chunks.push_back({rec.id, std::move(meta_hash)});
      ++out.chunks;
      std::string text_hash = reusable_text_hash(rec.metadata_json, embedder_identity);
      if (!text_hash.empty() && static_cast<int>(rec.values.size()) == dimension)
        vectors.emplace_back(std::move(text_hash), std::move(rec.values));
    }
    if (!vectors.empty()) book.store_embeddings(embedder_identity, vectors);
    out.vectors += static_cast<std::int64_t>(vectors.size());
    ctx.state().done = out.listed;
    if (sink_count >= 0) ctx.state().total = std::max(sink_count, out.listed);  // a count that lags
    ctx.checkpoint();
  }
  if (sink_count >= 0) ctx.state().total = out.listed;  // the listing ended: all of it is done
  sql::transaction tx(book.db());
  for (auto& [id, d] : docs) {
    book.commit_document(sink_id, id, d.partition, d.content_hash, d.updated_at, d.chunks);
    // A document the sink holds only part of (a crash between its upserts) is written again; the
    // chunks it has give their vectors.
    if (static_cast<std::int64_t>(d.chunks.size()) != d.expected_chunks) {
      book.mark_chunk_pending(sink_id, d.chunks.front().id);
      ++out.partial;
    }
  }
  tx.commit();
  out.documents = static_cast<std::int64_t>(docs.size());
  logger()->info(
      "restore: {} records listed in {}; {} of this backfill's ({} documents, {} of them incomplete) "
      "recorded, "
      "{} vectors reused",
      out.listed, snk.describe(), out.chunks, out.documents, out.partial, out.vectors);
  return out;
}

}  // namespace backfill
