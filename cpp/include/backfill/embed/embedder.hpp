// Embedders turn chunk texts into vectors.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "backfill/core/context.hpp"

namespace backfill {

class preflight_checks;  // preflight/checks.hpp

class embedder {
 public:
  virtual ~embedder() = default;
  // Identity of the vector space: kind, model, dimension, version. Cache entries are keyed by it, so
  // changing any of these never reuses an old vector.
  virtual std::string identity() const = 0;
  virtual int dimension() const = 0;
  // Largest batch one call may take.
  virtual std::size_t max_batch() const { return 256; }
  // The most tokens (as estimate_tokens counts them) one input may have; 0 = no limit. The pipeline
  // keeps its chunks within it.
  virtual std::size_t max_input_tokens() const { return 0; }
  // How many embed calls the pipeline may have in flight at once (each from its own thread).
  virtual std::size_t concurrency() const { return 1; }
  // When the embedder's request quota (rather than its token quota) binds: the inputs one full request
  // holds. The pipeline then merges its queued work into calls of whole requests, so that every scarce
  // request goes full. 0 (the default): requests are not what binds.
  virtual std::size_t full_request_inputs() const { return 0; }
  // Returns one vector of dimension() floats per text, in order. Implementations must allow calls
  // from several threads at once.
  virtual std::vector<std::vector<float>> embed(const std::vector<std::string_view>& texts) = 0;

  // The vectors of texts [first, first + vectors.size()); the callee may move them away.
  using part_fn = std::function<void(std::size_t first, std::vector<std::vector<float>>& vectors)>;
  // Like embed(), but hands each part of the result to `on_part` (on the calling thread) as soon as it
  // is complete. Parts may come in any order and together cover every text exactly once; when a part
  // fails, the parts already complete (and those still in flight, which are already paid for) are
  // handed over before the error is thrown, so the caller keeps them. Waits check `ctx` when given.
  // The default makes one part of embed().
  virtual void embed_parts(const std::vector<std::string_view>& texts, const part_fn& on_part,
                           run_context* ctx = nullptr);

  // Adds the checks that prove the embedder works (an embedding of one input, its dimension); the
  // last a run performs, and only when every other check passed. Offline embedders add none.
  virtual void preflight(preflight_checks& out, run_context& ctx) {
    (void)out;
    (void)ctx;
  }
  // Requests made (or, for an offline embedder, batches embedded) and texts embedded, across threads.
  std::int64_t calls() const noexcept { return calls_.load(std::memory_order_relaxed); }
  std::int64_t inputs() const noexcept { return inputs_.load(std::memory_order_relaxed); }

 protected:
  void count_call(std::size_t n) noexcept {
    calls_.fetch_add(1, std::memory_order_relaxed);
    inputs_.fetch_add(static_cast<std::int64_t>(n), std::memory_order_relaxed);
  }

 private:
  std::atomic<std::int64_t> calls_{0};
  std::atomic<std::int64_t> inputs_{0};
};

// Offline, deterministic feature hashing of words and adjacent word pairs (the "hashing trick"),
// signed, with sublinear term frequency, L2-normalized. Lexical: texts that share words are near,
// synonyms are not. Good for demos, tests and benchmarks; use a real model for semantic search.
class hash_embedder final : public embedder {
 public:
  explicit hash_embedder(int dimension = 256);
  std::string identity() const override;
  int dimension() const override { return dimension_; }
  std::size_t max_batch() const override { return 512; }
  // CPU-bound: one call per core, leaving one core to normalizing and writing.
  std::size_t concurrency() const override;
  std::vector<std::vector<float>> embed(const std::vector<std::string_view>& texts) override;
  // One text, without counting a call.
  std::vector<float> embed_one(std::string_view text) const;

 private:
  int dimension_;
};

}  // namespace backfill
