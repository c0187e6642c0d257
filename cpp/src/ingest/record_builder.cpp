#include "backfill/ingest/record_builder.hpp"

#include <simdjson.h>

#include "backfill/core/json.hpp"

#include "backfill/core/hash.hpp"

namespace backfill {

std::string record_metadata(const document& doc, const chunk& c, const record_provenance* provenance) {
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
  if (provenance) {
    m.set(std::string(doc_hash_key), provenance->doc_hash);
    m.set(std::string(text_hash_key), c.text_hash);
    m.set(std::string(embedder_key), provenance->embedder);
    m.set(std::string(source_kind_key), provenance->source_kind);
    m.set(std::string(chunk_count_key), static_cast<double>(provenance->chunks));
  }
  return m.to_json();
}

record_builder::record_builder(chunker_options chunking, std::size_t metadata_limit, id_fitter fit_id)
    : chunking_(chunking), metadata_limit_(metadata_limit), fit_id_(std::move(fit_id)) {
  if (metadata_limit_) sanitize_.max_bytes = metadata_limit_;
}

pending_doc record_builder::build(const document& doc, std::string content_hash, sanitize_report& fitted,
                                  std::vector<std::string>& unfit) const {
  pending_doc pd;
  pd.id = doc.id;
  pd.partition = doc.partition;
  pd.content_hash = std::move(content_hash);
  pd.updated_at = doc.updated_at;
  std::vector<chunk> chunks = chunk_document(doc, chunking_);
  const record_provenance provenance{pd.content_hash, embedder_, source_kind_,
                                     static_cast<int>(chunks.size())};
  for (auto& c : chunks) {
    if (fit_id_) c.id = fit_id_(c.id);
    std::string meta = record_metadata(doc, c, embedder_.empty() ? nullptr : &provenance);
    json::replace_nul_escapes(meta);  // what every sink can store, so the ledger hashes what is read back
    if (metadata_limit_ && !fit_metadata(meta, sanitize_, fitted)) {
      pd.unsent.push_back({c.id, "its metadata keys alone exceed the sink's metadata limit"});
      unfit.push_back(c.id);
      continue;
    }
    std::string meta_hash = hash_hex(meta);
    pd.chunks.push_back({std::move(c), std::move(meta), std::move(meta_hash), 0});
  }
  return pd;
}

std::string reusable_text_hash(std::string_view metadata_json, std::string_view embedder_identity) {
  thread_local simdjson::dom::parser parser;
  simdjson::padded_string padded(metadata_json);
  simdjson::dom::object meta;
  std::string_view embedder, text_hash;
  if (parser.parse(padded).get_object().get(meta) != simdjson::SUCCESS) return {};
  if (meta[embedder_key].get_string().get(embedder) != simdjson::SUCCESS || embedder != embedder_identity)
    return {};
  if (meta[text_hash_key].get_string().get(text_hash) != simdjson::SUCCESS) return {};
  return std::string(text_hash);
}

}  // namespace backfill
