#include "backfill/ingest/record_builder.hpp"

#include <simdjson.h>

#include <algorithm>
#include <cmath>
#include <variant>

#include "backfill/core/json.hpp"

#include "backfill/core/hash.hpp"

namespace backfill {

namespace {
// A chunk's own keys, in bytewise order (metadata::to_json's): the text hash sorts first.
constexpr std::string_view chunk_key = "chunk";
constexpr std::string_view text_key = "text";
static_assert(text_hash_key < chunk_key && chunk_key < text_key);
}  // namespace

record_metadata_writer::record_metadata_writer(const document& doc, const record_provenance* provenance)
    : text_hash_(provenance != nullptr) {
  metadata m = doc.meta;
  m.set("doc_id", doc.id);
  m.set("source", doc.source);
  m.set("partition", doc.partition);
  m.set("title", doc.title);
  if (!doc.url.empty()) m.set("url", doc.url);
  if (!doc.created_at.empty()) m.set("created_at", doc.created_at);
  if (!doc.updated_at.empty()) m.set("updated_at", doc.updated_at);
  if (provenance) {
    m.set(std::string(doc_hash_key), provenance->doc_hash);
    m.set(std::string(embedder_key), provenance->embedder);
    m.set(std::string(source_kind_key), provenance->source_kind);
    m.set(std::string(chunk_count_key), static_cast<double>(provenance->chunks));
  }
  // What the chunk sets replaces any field of the document's by the same key.
  std::vector<const meta_field*> shared;
  shared.reserve(m.fields().size());
  for (const auto& f : m.fields()) {
    if (f.key == chunk_key || f.key == text_key || (text_hash_ && f.key == text_hash_key)) continue;
    if (const double* d = std::get_if<double>(&f.value); d && !std::isfinite(*d)) continue;
    shared.push_back(&f);
  }
  std::sort(shared.begin(), shared.end(), [](auto* a, auto* b) { return a->key < b->key; });
  ends_.reserve(shared.size());
  for (const meta_field* f : shared) {
    if (!shared_.empty()) shared_.push_back(',');
    json::append_string(shared_, f->key);
    shared_.push_back(':');
    append_json(shared_, f->value);
    ends_.push_back(shared_.size());
    if (f->key < text_hash_key) ++before_text_hash_;
    if (f->key < chunk_key) ++before_chunk_;
    if (f->key < text_key) ++before_text_;
  }
}

std::string record_metadata_writer::render(const chunk& c) const {
  std::string out;
  out.reserve(shared_.size() + c.text.size() + c.text.size() / 8 + 128);
  out.push_back('{');
  std::size_t written = 0;  // shared fields written so far
  const auto shared_up_to = [&](std::size_t n) {
    if (n <= written) return;
    if (out.size() > 1) out.push_back(',');
    const std::size_t from = written ? ends_[written - 1] + 1 : 0;
    out.append(shared_, from, ends_[n - 1] - from);
    written = n;
  };
  const auto key = [&](std::size_t before, std::string_view k) {
    shared_up_to(before);
    if (out.size() > 1) out.push_back(',');
    json::append_string(out, k);
    out.push_back(':');
  };
  if (text_hash_) {
    key(before_text_hash_, text_hash_key);
    json::append_string(out, c.text_hash);
  }
  key(before_chunk_, chunk_key);
  json::append_number(out, static_cast<double>(c.index));
  key(before_text_, text_key);
  json::append_string(out, c.text);
  shared_up_to(ends_.size());
  out.push_back('}');
  return out;
}

std::string record_metadata(const document& doc, const chunk& c, const record_provenance* provenance) {
  return record_metadata_writer(doc, provenance).render(c);
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
  const record_metadata_writer metadata(doc, embedder_.empty() ? nullptr : &provenance);
  for (auto& c : chunks) {
    if (fit_id_) c.id = fit_id_(c.id);
    std::string meta = metadata.render(c);
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
