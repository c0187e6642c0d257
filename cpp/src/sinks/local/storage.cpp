#include "sinks/local/storage.hpp"

#include <bit>
#include <cstdint>
#include <cstring>

namespace backfill::local_store {

void encode_vector(const std::vector<float>& values, std::string& out) {
  out.resize(values.size() * 4);
  if constexpr (std::endian::native == std::endian::little) {
    if (!values.empty()) std::memcpy(out.data(), values.data(), out.size());
  } else {
    for (std::size_t i = 0; i < values.size(); ++i) {
      std::uint32_t u = std::bit_cast<std::uint32_t>(values[i]);
      for (int b = 0; b < 4; ++b) out[i * 4 + b] = static_cast<char>((u >> (8 * b)) & 0xFF);
    }
  }
}

// Decodes `blob` (4 * out.size() bytes) into `out`.
void decode_vector(std::string_view blob, std::vector<float>& out) {
  if constexpr (std::endian::native == std::endian::little) {
    if (!out.empty()) std::memcpy(out.data(), blob.data(), out.size() * 4);
  } else {
    for (std::size_t i = 0; i < out.size(); ++i) {
      std::uint32_t u = 0;
      for (int b = 0; b < 4; ++b)
        u |= static_cast<std::uint32_t>(static_cast<unsigned char>(blob[i * 4 + b])) << (8 * b);
      out[i] = std::bit_cast<float>(u);
    }
  }
}

}  // namespace backfill::local_store
