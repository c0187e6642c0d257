// Cached vectors kept compactly: IEEE 754 half precision (binary16), two bytes a component plus one
// tag byte, so a compact blob (odd length) is never mistaken for float32 components (length a
// multiple of 4). Half precision keeps ~3 decimal digits: cosine similarities move by ~1e-4.
// Components beyond its range (|x| > 65504) saturate; a vector never gains an infinity.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace backfill::ledger_detail {

constexpr char half_tag = 'h';

// The compact blob of `v`.
std::string to_half_blob(const float* v, std::size_t n);
// True when `blob` is a compact one (its length is odd).
inline bool is_half_blob(std::string_view blob) noexcept { return blob.size() % 2 == 1; }
// The float32 components of a compact blob.
std::vector<float> from_half_blob(std::string_view blob);

// A heal copy (ledger::keep_heal_copies): one signed byte a component and the vector's scale, a
// float32 first: component i is byte[i] * scale / 127, the largest |component| exactly. A component
// moves by at most 1/254 of the largest: cosine similarity to the original stays above 0.9999 for
// embedding vectors, whose weight is spread over their components.
std::string to_byte_blob(const float* v, std::size_t n);
std::vector<float> from_byte_blob(std::string_view blob);

}  // namespace backfill::ledger_detail
