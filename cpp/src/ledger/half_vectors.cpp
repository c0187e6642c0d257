#include "half_vectors.hpp"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>

namespace backfill::ledger_detail {
namespace {

std::uint16_t to_half(float f) {
  std::uint32_t x;
  std::memcpy(&x, &f, 4);
  const auto sign = static_cast<std::uint16_t>((x >> 16) & 0x8000u);
  const std::uint32_t exp = (x >> 23) & 0xFFu;
  std::uint32_t mant = x & 0x7FFFFFu;
  if (exp == 0xFF) return static_cast<std::uint16_t>(sign | 0x7C00u | (mant ? 0x200u : 0u));  // inf, NaN
  const int e = static_cast<int>(exp) - 127 + 15;
  if (e >= 31) return static_cast<std::uint16_t>(sign | 0x7BFFu);  // too large: the largest half
  if (e <= 0) {                                                    // subnormal half, or zero
    if (e < -10) return sign;
    mant |= 0x800000u;
    const int shift = 14 - e;
    std::uint32_t half = mant >> shift;
    const std::uint32_t rest = mant & ((1u << shift) - 1u), mid = 1u << (shift - 1);
    if (rest > mid || (rest == mid && (half & 1u))) ++half;  // round to nearest, ties to even
    return static_cast<std::uint16_t>(sign | half);
  }
  std::uint32_t half = (static_cast<std::uint32_t>(e) << 10) | (mant >> 13);
  const std::uint32_t rest = mant & 0x1FFFu;
  if (rest > 0x1000u || (rest == 0x1000u && (half & 1u))) ++half;
  if (half >= 0x7C00u) half = 0x7BFFu;  // rounded past the largest half: saturate, never infinity
  return static_cast<std::uint16_t>(sign | half);
}

float from_half(std::uint16_t h) {
  const std::uint32_t sign = static_cast<std::uint32_t>(h & 0x8000u) << 16;
  const std::uint32_t exp = (h >> 10) & 0x1Fu;
  std::uint32_t mant = h & 0x3FFu;
  std::uint32_t x;
  if (exp == 0x1F) {
    x = sign | 0x7F800000u | (mant << 13);
  } else if (exp != 0) {
    x = sign | ((exp - 15 + 127) << 23) | (mant << 13);
  } else if (mant == 0) {
    x = sign;
  } else {  // subnormal: normalise
    int e = -1;
    do {
      ++e;
      mant <<= 1;
    } while ((mant & 0x400u) == 0);
    x = sign | (static_cast<std::uint32_t>(127 - 15 - e) << 23) | ((mant & 0x3FFu) << 13);
  }
  float f;
  std::memcpy(&f, &x, 4);
  return f;
}

}  // namespace

std::string to_half_blob(const float* v, std::size_t n) {
  std::string out(2 * n + 1, half_tag);
  for (std::size_t i = 0; i < n; ++i) {
    const std::uint16_t h = to_half(v[i]);
    out[2 * i] = static_cast<char>(h & 0xFFu);
    out[2 * i + 1] = static_cast<char>(h >> 8);
  }
  return out;
}

std::vector<float> from_half_blob(std::string_view blob) {
  std::vector<float> v(blob.size() / 2);
  for (std::size_t i = 0; i < v.size(); ++i) {
    const auto lo = static_cast<std::uint16_t>(static_cast<unsigned char>(blob[2 * i]));
    const auto hi = static_cast<std::uint16_t>(static_cast<unsigned char>(blob[2 * i + 1]));
    v[i] = from_half(static_cast<std::uint16_t>(lo | (hi << 8)));
  }
  return v;
}

std::string to_byte_blob(const float* v, std::size_t n) {
  float largest = 0.0f;
  for (std::size_t i = 0; i < n; ++i)
    if (std::isfinite(v[i])) largest = std::max(largest, std::fabs(v[i]));
  std::string out(sizeof(float) + n, '\0');
  std::memcpy(out.data(), &largest, sizeof(float));
  if (largest == 0.0f) return out;
  const float to_byte = 127.0f / largest;
  for (std::size_t i = 0; i < n; ++i) {
    const float x = std::isfinite(v[i]) ? v[i] : 0.0f;
    const long q = std::clamp(std::lround(x * to_byte), -127L, 127L);
    out[sizeof(float) + i] = static_cast<char>(static_cast<signed char>(q));
  }
  return out;
}

std::vector<float> from_byte_blob(std::string_view blob) {
  if (blob.size() < sizeof(float)) return {};
  float largest;
  std::memcpy(&largest, blob.data(), sizeof(float));
  const float step = largest / 127.0f;
  std::vector<float> v(blob.size() - sizeof(float));
  for (std::size_t i = 0; i < v.size(); ++i)
    v[i] = static_cast<float>(static_cast<signed char>(blob[sizeof(float) + i])) * step;
  return v;
}

}  // namespace backfill::ledger_detail
