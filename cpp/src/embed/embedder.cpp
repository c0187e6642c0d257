// The offline hashing embedder ("hashing trick"): words and adjacent word pairs are hashed into
// `dimension` signed buckets, weighted by sublinear term frequency, and the vector is L2-normalized.
//
// Everything that shapes a vector (tokenization, seeds, weights) is part of "hash:v1": changing any
// of it must bump the version in identity(), or cached vectors would silently mix two spaces.
#include "backfill/embed/embedder.hpp"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>
#include <thread>

#include "backfill/core/errors.hpp"
#include "backfill/core/hash.hpp"

namespace backfill {
namespace {

constexpr std::uint64_t kBucketSeed = 0x6261636b66696c6cULL;  // "backfill"
constexpr std::uint64_t kSignSeed = 0x7369676e2d736565ULL;    // "sign-see"
constexpr double kPairWeight = 0.5;

// Letters and digits of ASCII, and every byte of a multi-byte UTF-8 sequence (so non-ASCII letters,
// CJK and so on form words; non-ASCII punctuation does too, which is harmless for a lexical hash).
inline bool word_byte(unsigned char c) noexcept {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c >= 0x80;
}

inline char lower_ascii(unsigned char c) noexcept {
  return static_cast<char>((c >= 'A' && c <= 'Z') ? c + ('a' - 'A') : c);
}

struct feature {
  std::uint64_t bucket_hash;
  std::uint64_t sign_hash;
  bool pair;
  bool operator<(const feature& o) const noexcept {
    if (bucket_hash != o.bucket_hash) return bucket_hash < o.bucket_hash;
    if (sign_hash != o.sign_hash) return sign_hash < o.sign_hash;
    return pair < o.pair;
  }
  bool operator==(const feature& o) const noexcept = default;
};

}  // namespace

void embedder::embed_parts(const std::vector<std::string_view>& texts, const part_fn& on_part,
                           run_context* ctx) {
  if (ctx) ctx->checkpoint();
  auto out = embed(texts);
  if (!out.empty()) on_part(0, out);
}

hash_embedder::hash_embedder(int dimension) : dimension_(dimension) {
  if (dimension < 8 || dimension > 20000)
    throw config_error("embedder.dimension must be between 8 and 20000, got " + std::to_string(dimension));
}

std::string hash_embedder::identity() const { return "hash:v1:dim=" + std::to_string(dimension_); }

std::size_t hash_embedder::concurrency() const {
  unsigned cores = std::thread::hardware_concurrency();
  return std::clamp<std::size_t>(cores > 1 ? cores - 1 : 1, 1, 8);
}

std::vector<float> hash_embedder::embed_one(std::string_view text) const {
  // Collect every feature occurrence, then sort: equal features become runs (their count is the term
  // frequency) and the accumulation order is fixed, so the result is bit-identical everywhere.
  // The buffers are the thread's own and keep their capacity from chunk to chunk: a chunk costs no
  // allocation but its result, and words are views into the lowered text, not bytes pushed one by one.
  thread_local std::string lowered, pair;
  thread_local std::vector<feature> features;
  thread_local std::vector<double> acc;
  features.clear();
  lowered.resize(text.size());
  for (std::size_t i = 0; i < text.size(); ++i) lowered[i] = lower_ascii(static_cast<unsigned char>(text[i]));
  auto add = [&](std::string_view f, bool is_pair) {
    features.push_back({hash64(f, kBucketSeed), hash64(f, kSignSeed), is_pair});
  };
  const std::string_view all(lowered);
  std::string_view previous;
  for (std::size_t i = 0; i < all.size();) {
    if (!word_byte(static_cast<unsigned char>(all[i]))) {
      ++i;
      continue;
    }
    std::size_t j = i + 1;
    while (j < all.size() && word_byte(static_cast<unsigned char>(all[j]))) ++j;
    const std::string_view word = all.substr(i, j - i);
    add(word, false);
    if (!previous.empty()) {
      pair.assign(previous).push_back(' ');
      pair.append(word);
      add(pair, true);
    }
    previous = word;
    i = j;
  }

  acc.assign(static_cast<std::size_t>(dimension_), 0.0);
  std::sort(features.begin(), features.end());
  const auto d = static_cast<std::uint64_t>(dimension_);
  for (std::size_t i = 0; i < features.size();) {
    std::size_t j = i + 1;
    while (j < features.size() && features[j] == features[i]) ++j;
    const double tf = static_cast<double>(j - i);
    const double weight = (1.0 + std::log(tf)) * (features[i].pair ? kPairWeight : 1.0);
    const double sign = (features[i].sign_hash >> 63) ? -1.0 : 1.0;
    acc[static_cast<std::size_t>(features[i].bucket_hash % d)] += sign * weight;
    i = j;
  }

  double norm2 = 0;
  for (double v : acc) norm2 += v * v;
  if (norm2 <= 0)
    return std::vector<float>(acc.size(), 0.0f);  // an empty text (or a full cancellation): no NaN
  const double inv = 1.0 / std::sqrt(norm2);
  std::vector<float> out;
  out.reserve(acc.size());
  for (double v : acc) out.push_back(static_cast<float>(v * inv));
  return out;
}

std::vector<std::vector<float>> hash_embedder::embed(const std::vector<std::string_view>& texts) {
  std::vector<std::vector<float>> out;
  if (texts.empty()) return out;  // no work, no call: calls() counts requests that were made
  count_call(texts.size());
  out.reserve(texts.size());
  for (auto t : texts) out.push_back(embed_one(t));
  return out;
}

}  // namespace backfill
