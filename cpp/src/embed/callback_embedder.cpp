#include "backfill/embed/callback_embedder.hpp"

#include <fmt/format.h>

#include "backfill/core/errors.hpp"

namespace backfill {

callback_embedder::callback_embedder(embed_fn fn, callback_embedder_options options)
    : fn_(std::move(fn)), options_(std::move(options)) {
  if (options_.dimension < 1)
    throw config_error(fmt::format("embedder.dimension must be positive, got {}", options_.dimension));
  if (options_.batch_size < 1) throw config_error("embedder.batch_size must be at least 1");
  if (options_.concurrency < 1) throw config_error("embedder.concurrency must be at least 1");
  if (options_.name.empty())
    throw config_error("an embedder function needs a name (its model), which keys the embedding cache");
}

std::string callback_embedder::identity() const {
  return fmt::format("{}:{}:dim={}", options_.kind, options_.name, options_.dimension);
}

std::vector<std::vector<float>> callback_embedder::embed(const std::vector<std::string_view>& texts) {
  count_call(texts.size());
  std::vector<std::vector<float>> vectors = fn_(texts);
  if (vectors.size() != texts.size())
    throw embed_error(
        fmt::format("{} returned {} vectors for {} texts", options_.who, vectors.size(), texts.size()));
  for (const auto& v : vectors)
    if (v.size() != static_cast<std::size_t>(options_.dimension))
      throw embed_error(fmt::format("{} returned a vector of dimension {}, expected {}", options_.who,
                                    v.size(), options_.dimension));
  return vectors;
}

}  // namespace backfill
