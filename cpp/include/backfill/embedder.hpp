// Embedders turn chunk texts into vectors.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace backfill {

class embedder {
 public:
  virtual ~embedder() = default;
  // Identity of the vector space: kind, model, dimension, version. Cache entries are keyed by it, so
  // changing any of these never reuses an old vector.
  virtual std::string identity() const = 0;
  virtual int dimension() const = 0;
  // Largest batch one call may take.
  virtual std::size_t max_batch() const { return 256; }
  // Returns one vector of dimension() floats per text, in order.
  virtual std::vector<std::vector<float>> embed(const std::vector<std::string_view>& texts) = 0;

  std::int64_t calls() const noexcept { return calls_; }
  std::int64_t inputs() const noexcept { return inputs_; }

 protected:
  void count_call(std::size_t n) noexcept {
    ++calls_;
    inputs_ += static_cast<std::int64_t>(n);
  }

 private:
  std::int64_t calls_ = 0;
  std::int64_t inputs_ = 0;
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
  std::vector<std::vector<float>> embed(const std::vector<std::string_view>& texts) override;
  // One text, without counting a call.
  std::vector<float> embed_one(std::string_view text) const;

 private:
  int dimension_;
};

}  // namespace backfill
