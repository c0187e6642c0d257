#include "backfill/core/hash.hpp"

#include <cstddef>

#define XXH_INLINE_ALL
#include <xxhash.h>

namespace backfill {

std::string hash128::hex() const {
  // Nibble by nibble: snprintf's format parsing cost more than the hash it prints (several a chunk).
  static constexpr char digits[] = "0123456789abcdef";
  std::string out(32, '0');
  for (int i = 0; i < 16; ++i) {
    out[static_cast<std::size_t>(15 - i)] = digits[(high >> (4 * i)) & 0xFu];
    out[static_cast<std::size_t>(31 - i)] = digits[(low >> (4 * i)) & 0xFu];
  }
  return out;
}

hash128 hash_bytes(std::string_view data) noexcept {
  XXH128_hash_t h = XXH3_128bits(data.data(), data.size());
  return {h.high64, h.low64};
}

std::uint64_t hash64(std::string_view data, std::uint64_t seed) noexcept {
  return XXH3_64bits_withSeed(data.data(), data.size(), seed);
}

hasher::hasher() : state_(XXH3_createState()) { XXH3_128bits_reset(static_cast<XXH3_state_t*>(state_)); }

hasher::~hasher() { XXH3_freeState(static_cast<XXH3_state_t*>(state_)); }

hasher& hasher::update(std::string_view data) noexcept {
  XXH3_128bits_update(static_cast<XXH3_state_t*>(state_), data.data(), data.size());
  return *this;
}

hasher& hasher::field(std::string_view data) noexcept {
  std::uint64_t n = data.size();
  unsigned char len[8];
  for (int i = 0; i < 8; ++i) len[i] = static_cast<unsigned char>(n >> (8 * i));
  XXH3_128bits_update(static_cast<XXH3_state_t*>(state_), len, sizeof len);
  return update(data);
}

hash128 hasher::digest() const noexcept {
  XXH128_hash_t h = XXH3_128bits_digest(static_cast<XXH3_state_t*>(state_));
  return {h.high64, h.low64};
}

}  // namespace backfill
