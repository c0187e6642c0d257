// The units the ingest hands from step to step: records made from documents (record_builder.hpp),
// gathered into batches that are embedded (embed_plan.hpp) and written together (batch_writer.hpp).
#pragma once

#include <algorithm>
#include <cstddef>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "backfill/core/document.hpp"
#include "backfill/core/memory_budget.hpp"
#include "backfill/ledger/ledger.hpp"

namespace backfill {

// One text's vector: filled by exactly one embed job (or from the cache) before any batch that
// refers to it is written. Batches share slots, so a text in flight is never embedded twice.
struct vector_slot {
  std::vector<float> values;
  // Filled from a heal copy (one byte a component): the writer takes the whole vector from the
  // sink instead where it still holds one for the text.
  bool from_heal_copy = false;
};

// A chunk made into a record, all but its vector: the id the sink stores, the metadata as the sink
// receives it (already fitted to its limit) and that metadata's hash, which verify compares.
struct pending_chunk {
  chunk c;
  std::string metadata_json;
  std::string meta_hash;
  std::size_t slot = 0;  // index into batch::slots, set by the embed plan
};

struct pending_doc {
  std::string id;
  std::string partition;
  std::string content_hash;
  std::string updated_at;
  std::vector<pending_chunk> chunks;
  std::vector<unsent_record> unsent;  // chunks that cannot be sent, and why: the document stays pending
};

struct batch {
  std::vector<pending_doc> docs;
  std::unordered_map<std::string, std::size_t> doc_index;  // doc id -> position in docs
  std::size_t chunk_count = 0;
  std::vector<std::shared_ptr<vector_slot>> slots;
  std::unordered_map<std::string, std::size_t> slot_index;  // text hash -> position in slots
  std::size_t record_bytes = 0;  // what its documents' strings take (doc_bytes), kept as they come
  std::size_t jobs_pending = 0;  // embed jobs not yet done; guarded by the stages' mutex
  memory_budget::lease held;     // its bytes, taken from the run's budget while it is in flight

  bool holds(const std::string& doc_id) const { return doc_index.count(doc_id) > 0; }
  // Adds a document, or replaces the version of it this batch already holds. Returns chunk_count.
  std::size_t add(pending_doc doc) {
    record_bytes += doc_bytes(doc);
    auto it = doc_index.find(doc.id);
    if (it != doc_index.end()) {
      chunk_count -= docs[it->second].chunks.size();
      chunk_count += doc.chunks.size();
      record_bytes -= std::min(record_bytes, doc_bytes(docs[it->second]));
      docs[it->second] = std::move(doc);
    } else {
      chunk_count += doc.chunks.size();
      doc_index.emplace(doc.id, docs.size());
      docs.push_back(std::move(doc));
    }
    return chunk_count;
  }

  // What the batch holds on to, in bytes (what memory_budget counts for it): its records' strings
  // and one vector of `dimension` floats a text (a distinct text, once the embed plan has run).
  std::size_t bytes(std::size_t dimension) const {
    const std::size_t vectors = slots.empty() ? chunk_count : slots.size();
    return record_bytes + vectors * (sizeof(vector_slot) + dimension * sizeof(float));
  }

  static std::size_t doc_bytes(const pending_doc& d) {
    std::size_t n =
        sizeof(pending_doc) + d.id.size() + d.partition.size() + d.content_hash.size() + d.updated_at.size();
    for (const auto& pc : d.chunks)
      n += sizeof(pending_chunk) + pc.c.id.size() + pc.c.doc_id.size() + pc.c.text.size() +
           pc.c.text_hash.size() + pc.metadata_json.size() + pc.meta_hash.size();
    return n;
  }
};

// Texts of one batch to embed in one embedder call; their vectors go to owner->slots[slots[k]].
struct embed_job {
  std::shared_ptr<batch> owner;
  std::vector<std::size_t> slots;  // positions in owner->slots
  std::vector<std::string_view> texts;
  std::vector<std::string> hashes;
};

}  // namespace backfill
