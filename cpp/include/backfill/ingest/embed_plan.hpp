// The embed plan: which texts of a batch still need an embedder call, and the call that makes and
// caches their vectors. Each distinct text is embedded once: a text already in the batch, in an
// earlier batch still in flight, or in the embedding cache (the ledger) is not sent again.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "backfill/core/context.hpp"
#include "backfill/embed/embedder.hpp"
#include "backfill/ingest/batch.hpp"
#include "backfill/ledger/ledger.hpp"

namespace backfill {

// Used from one thread (the one that builds the batches).
class embed_planner {
 public:
  // `cache`: the ledger whose embedding cache is read; `job_size`: texts per embedder call;
  // `forget_above`: how many texts in flight are remembered before the finished ones are forgotten.
  embed_planner(ledger& cache, std::string embedder_id, std::size_t job_size, std::size_t forget_above);

  // Gives every chunk of `b` a vector slot, filled from the cache or shared with the batch or an
  // earlier batch in flight where it can be, and returns the jobs that embed the rest. Texts that
  // need no call are counted in `cache_hits`.
  std::vector<embed_job> plan(const std::shared_ptr<batch>& b, std::int64_t& cache_hits);

 private:
  std::shared_ptr<vector_slot> in_flight(const std::string& text_hash);
  void remember(const std::string& text_hash, const std::shared_ptr<vector_slot>& slot);

  ledger& cache_;
  std::string embedder_id_;
  std::size_t job_size_;
  std::size_t forget_above_;
  std::unordered_map<std::string, std::weak_ptr<vector_slot>> in_flight_;
};

// Where an embed job's vectors go as they arrive, for the cache: each refers to its slot's values.
using embedding_store = std::function<void(std::span<const embedding_ref>)>;

// Embeds jobs (of one batch or several) in one embedder call, checks what came back (count,
// dimension, each text once), fills the jobs' slots and stores each part in `store` as the embedder
// hands parts over: when a later part fails (a spent quota, a refused key), what was already paid for
// is kept and a rerun embeds only the rest. Returns the texts embedded.
std::size_t run_embed_jobs(embedder& emb, const std::string& embedder_id, std::vector<embed_job>& jobs,
                           const embedding_store& store, run_context* ctx);

}  // namespace backfill
