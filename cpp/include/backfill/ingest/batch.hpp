// The units the ingest hands from step to step: records made from documents (record_builder.hpp),
// gathered into batches that are embedded (embed_plan.hpp) and written together (batch_writer.hpp).
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "backfill/core/document.hpp"
#include "backfill/ledger/ledger.hpp"

namespace backfill {

// One text's vector: filled by exactly one embed job (or from the cache) before any batch that
// refers to it is written. Batches share slots, so a text in flight is never embedded twice.
struct vector_slot {
  std::vector<float> values;
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
  std::size_t jobs_pending = 0;  // embed jobs not yet done; guarded by the stages' mutex

  bool holds(const std::string& doc_id) const { return doc_index.count(doc_id) > 0; }
  // Adds a document, or replaces the version of it this batch already holds. Returns chunk_count.
  std::size_t add(pending_doc doc) {
    auto it = doc_index.find(doc.id);
    if (it != doc_index.end()) {
      chunk_count -= docs[it->second].chunks.size();
      chunk_count += doc.chunks.size();
      docs[it->second] = std::move(doc);
    } else {
      chunk_count += doc.chunks.size();
      doc_index.emplace(doc.id, docs.size());
      docs.push_back(std::move(doc));
    }
    return chunk_count;
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
