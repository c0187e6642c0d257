// An embedder that calls a function: the model lives outside the core (the Python binding wraps a
// Python callable into `embed_fn`; tests pass a lambda). The core checks what the function returns,
// so a model that gives too few vectors or the wrong dimension fails naming it, not the index.
#pragma once

#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "backfill/embed/embedder.hpp"

namespace backfill {

struct callback_embedder_options {
  std::string kind;  // the identity's first part: "python" gives "python:<name>:dim=<dimension>"
  std::string name;  // the model: with the dimension, it keys the embedding cache
  std::string who;   // how errors name it: "the Python embedder all-MiniLM-L6-v2"
  int dimension = 0;
  std::size_t batch_size = 64;  // texts per call
  std::size_t concurrency = 1;  // calls in flight at once, each from its own pipeline thread
};

class callback_embedder final : public embedder {
 public:
  // One vector per text, in order. May be called from `concurrency` threads at once; what it throws
  // leaves embed() as it is.
  using embed_fn = std::function<std::vector<std::vector<float>>(const std::vector<std::string_view>& texts)>;

  // Throws config_error for a dimension, batch size or concurrency below 1, or no name.
  callback_embedder(embed_fn fn, callback_embedder_options options);

  std::string identity() const override;
  int dimension() const override { return options_.dimension; }
  std::size_t max_batch() const override { return options_.batch_size; }
  std::size_t concurrency() const override { return options_.concurrency; }
  // Throws embed_error naming `who` when the function returns another count of vectors than texts,
  // or a vector of another dimension.
  std::vector<std::vector<float>> embed(const std::vector<std::string_view>& texts) override;

 private:
  embed_fn fn_;
  callback_embedder_options options_;
};

}  // namespace backfill
