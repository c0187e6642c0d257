// Content hashing: XXH3-128 (libxxhash). Used for page hashes, document content hashes, chunk text
// hashes (the embedding-cache key) and metadata hashes. Not a cryptographic hash: it detects change
// and corruption, it does not authenticate.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace backfill {

struct hash128 {
  std::uint64_t high = 0;
  std::uint64_t low = 0;
  std::string hex() const;  // 32 lowercase hex digits
  bool operator==(const hash128&) const = default;
};

hash128 hash_bytes(std::string_view data) noexcept;
inline std::string hash_hex(std::string_view data) { return hash_bytes(data).hex(); }

// Streaming hasher. Fields added with field() are length-prefixed, so ("ab","c") and ("a","bc")
// hash differently.
class hasher {
 public:
  hasher();
  ~hasher();
  hasher(const hasher&) = delete;
  hasher& operator=(const hasher&) = delete;

  hasher& update(std::string_view data) noexcept;
  hasher& field(std::string_view data) noexcept;
  hash128 digest() const noexcept;

 private:
  void* state_;
};

std::uint64_t hash64(std::string_view data, std::uint64_t seed = 0) noexcept;

}  // namespace backfill
