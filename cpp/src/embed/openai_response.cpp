// Reading an embeddings answer: base64 float32 decoding and the checks that every input got exactly
// one finite vector of the expected dimension.
#include <algorithm>
#include <array>
#include <bit>
#include <cstdint>
#include <cstring>
#include <optional>
#include <utility>

#include <fmt/format.h>
#include <simdjson.h>

#if defined(__x86_64__)
#include <immintrin.h>
#endif

#include "backfill/core/errors.hpp"
#include "backfill/core/json_walk.hpp"
#include "backfill/core/padded_json.hpp"
#include "backfill/core/parser_pool.hpp"
#include "backfill/embed/openai.hpp"
#include "backfill/http/scrub.hpp"

namespace backfill::openai {

namespace {

constexpr const char* kAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

// For each of a group's four characters, its six bits already where they land in the group's three
// bytes, read as a little-endian word (byte 0 lowest): a group decodes to the OR of four lookups. A
// character outside the alphabet sets bit 24, which no valid one does.
struct group_tables {
  std::array<std::array<std::uint32_t, 256>, 4> at{};
};
constexpr group_tables make_tables() {
  group_tables r{};
  for (auto& table : r.at)
    for (auto& v : table) v = 1u << 24;
  for (std::uint32_t i = 0; i < 64; ++i) {
    const auto c = static_cast<unsigned char>(kAlphabet[i]);
    r.at[0][c] = i << 2;                                // byte 0, bits 7-2
    r.at[1][c] = (i >> 4) | ((i & 0xFu) << 12);         // byte 0, bits 1-0; byte 1, bits 7-4
    r.at[2][c] = ((i >> 2) << 8) | ((i & 0x3u) << 22);  // byte 1, bits 3-0; byte 2, bits 7-6
    r.at[3][c] = i << 16;                               // byte 2, bits 5-0
  }
  return r;
}
constexpr group_tables kGroups = make_tables();

std::uint32_t group(const unsigned char* p) noexcept {
  return kGroups.at[0][p[0]] | kGroups.at[1][p[1]] | kGroups.at[2][p[2]] | kGroups.at[3][p[3]];
}

void put3(unsigned char* out, std::uint32_t v) noexcept {
  out[0] = static_cast<unsigned char>(v);
  out[1] = static_cast<unsigned char>(v >> 8);
  out[2] = static_cast<unsigned char>(v >> 16);
}

std::string_view unpadded(std::string_view in) noexcept {
  if (!in.empty() && in.back() == '=') in.remove_suffix(1);
  if (!in.empty() && in.back() == '=') in.remove_suffix(1);
  return in;
}

// Whether no value is infinite or NaN (all exponent bits set), in one pass the compiler vectorizes.
bool all_finite(const std::vector<float>& v) noexcept {
  std::uint32_t bad = 0;
  for (float f : v) {
    std::uint32_t u;
    std::memcpy(&u, &f, 4);
    bad |= static_cast<std::uint32_t>((u & 0x7F800000u) == 0x7F800000u);
  }
  return bad == 0;
}

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define BACKFILL_BASE64_AVX2 1
// 32 characters to 24 bytes at a time with AVX2 (Muła and Lemire's method, arXiv:1704.00605): each
// character's 6 bits by a lookup on its high nibble, the alphabet checked by two nibble lookups
// whose AND is zero only for its 64 characters, then the four 6-bit values of each group merged
// into three bytes by two multiply-adds and a shuffle. An embeddings answer is 8 kB of base64 a
// vector at dimension 1536; the table decoder below takes the rest (under 44 characters). Returns
// the characters decoded (a multiple of 32), or SIZE_MAX when one is outside the alphabet.
__attribute__((target("avx2"))) std::size_t decode_blocks_avx2(const unsigned char* in, std::size_t n,
                                                               unsigned char* out) noexcept {
  // Bit 4: a high nibble no character of the alphabet has; bits 0-3: the classes of high nibble 2
  // ('+', '/'), 3 (digits), 4 and 6 (A-O, a-o), 5 and 7 (P-Z, p-z), set on each low nibble where
  // that class has no alphabet character.
  const __m256i lut_lo = _mm256_setr_epi8(0x15, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x13,
                                          0x1A, 0x1B, 0x1B, 0x1B, 0x1A, 0x15, 0x11, 0x11, 0x11, 0x11, 0x11,
                                          0x11, 0x11, 0x11, 0x11, 0x13, 0x1A, 0x1B, 0x1B, 0x1B, 0x1A);
  const __m256i lut_hi = _mm256_setr_epi8(0x10, 0x10, 0x01, 0x02, 0x04, 0x08, 0x04, 0x08, 0x10, 0x10, 0x10,
                                          0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x01, 0x02, 0x04, 0x08,
                                          0x04, 0x08, 0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x10);
  // Value minus character, by high nibble ('/' at index 1: its nibble 2, less one).
  const __m256i lut_roll = _mm256_setr_epi8(0, 16, 19, 4, -65, -65, -71, -71, 0, 0, 0, 0, 0, 0, 0, 0, 0, 16,
                                            19, 4, -65, -65, -71, -71, 0, 0, 0, 0, 0, 0, 0, 0);
  const __m256i nibble = _mm256_set1_epi8(0x0F);
  const __m256i slash = _mm256_set1_epi8('/');
  const __m256i merge_pairs = _mm256_set1_epi32(0x01400140);  // a*64 + b in each 16 bits
  const __m256i merge_quads = _mm256_set1_epi32(0x00011000);  // (ab)*4096 + (cd) in each 32 bits
  const __m256i order = _mm256_setr_epi8(2, 1, 0, 6, 5, 4, 10, 9, 8, 14, 13, 12, -1, -1, -1, -1, 2, 1, 0, 6,
                                         5, 4, 10, 9, 8, 14, 13, 12, -1, -1, -1, -1);
  const __m256i lanes = _mm256_setr_epi32(0, 1, 2, 4, 5, 6, 7, 7);
  std::size_t done = 0;
  // Each block stores 32 bytes of which 24 are its own: the last block leaves 8 beyond, so blocks
  // stop while at least 12 characters (9 bytes) follow.
  for (; done + 44 <= n; done += 32, out += 24) {
    const __m256i c = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(in + done));
    const __m256i hi = _mm256_and_si256(_mm256_srli_epi32(c, 4), nibble);
    const __m256i lo = _mm256_and_si256(c, nibble);
    const __m256i bad = _mm256_and_si256(_mm256_shuffle_epi8(lut_lo, lo), _mm256_shuffle_epi8(lut_hi, hi));
    if (!_mm256_testz_si256(bad, bad)) return static_cast<std::size_t>(-1);
    const __m256i roll = _mm256_shuffle_epi8(lut_roll, _mm256_add_epi8(_mm256_cmpeq_epi8(c, slash), hi));
    const __m256i values = _mm256_add_epi8(c, roll);
    const __m256i quads = _mm256_madd_epi16(_mm256_maddubs_epi16(values, merge_pairs), merge_quads);
    const __m256i bytes = _mm256_permutevar8x32_epi32(_mm256_shuffle_epi8(quads, order), lanes);
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(out), bytes);
  }
  return done;
}

bool has_avx2() noexcept {
  static const bool yes = [] {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2") != 0;
  }();
  return yes;
}
#endif

}  // namespace

std::size_t base64_decoded_size(std::string_view in) noexcept {
  std::string_view s = unpadded(in);
  const std::size_t rest = s.size() % 4;
  return s.size() / 4 * 3 + (rest == 2 ? 1 : rest == 3 ? 2 : 0);
}

bool base64_decode(std::string_view in, unsigned char* out) noexcept {
  const bool padded = !in.empty() && in.back() == '=';
  std::string_view s = unpadded(in);
  if (padded && in.size() % 4 != 0) return false;
  if (s.size() % 4 == 1) return false;
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
#ifdef BACKFILL_BASE64_AVX2
  if (has_avx2()) {
    const std::size_t done = decode_blocks_avx2(p, s.size(), out);
    if (done == static_cast<std::size_t>(-1)) return false;
    p += done;
    out += done / 4 * 3;
    s.remove_prefix(done);
  }
#endif
  const std::size_t full = s.size() / 4;
  std::uint32_t seen = 0;  // every group's bits ORed: bit 24 set when a character was not base64
  std::size_t g = 0;
  if constexpr (std::endian::native == std::endian::little) {
    // Four bytes stored for each group's three; the fourth is overwritten by the next group's.
    for (; g + 1 < full; ++g, p += 4, out += 3) {
      const std::uint32_t v = group(p);
      seen |= v;
      std::memcpy(out, &v, 4);
    }
  }
  for (; g < full; ++g, p += 4, out += 3) {
    const std::uint32_t v = group(p);
    seen |= v;
    put3(out, v);
  }
  const std::size_t rest = s.size() % 4;
  if (rest >= 2) {
    const unsigned char tail[4] = {p[0], p[1], rest == 3 ? p[2] : static_cast<unsigned char>('A'),
                                   static_cast<unsigned char>('A')};
    const std::uint32_t v = group(tail);
    seen |= v;
    out[0] = static_cast<unsigned char>(v);
    if (rest == 3) out[1] = static_cast<unsigned char>(v >> 8);
  }
  return (seen >> 24) == 0;
}

std::optional<std::vector<float>> decode_float32(std::string_view base64) {
  const std::size_t bytes = base64_decoded_size(base64);
  if (bytes % 4 != 0) return std::nullopt;
  std::vector<float> out(bytes / 4);
  if (!base64_decode(base64, reinterpret_cast<unsigned char*>(out.data()))) return std::nullopt;
  if constexpr (std::endian::native == std::endian::big) {
    for (float& f : out) {
      std::uint32_t u;
      std::memcpy(&u, &f, 4);
      u = ((u & 0xFFu) << 24) | ((u & 0xFF00u) << 8) | ((u >> 8) & 0xFF00u) | (u >> 24);
      std::memcpy(&f, &u, 4);
    }
  }
  return out;
}

std::optional<parsed> walk_answer(const std::string& body, std::size_t n, int dimension) {
  if (dimension <= 0) return std::nullopt;
  const auto dim = static_cast<std::size_t>(dimension);
  if constexpr (std::endian::native == std::endian::big) return std::nullopt;  // the parse swaps bytes
  struct done {
    ~done() { json::walk::let_go(); }
  } index_let_go;
  auto walk = json::walk::index(body, /*check_grammar=*/true);  // the engine has not checked the answer
  if (!walk) return std::nullopt;
  json::walk& w = *walk;
  parsed out;
  out.vectors.resize(n);
  std::size_t items = 0;
  bool seen_data = false, seen_usage = false;
  std::string_view key;
  if (!w.enter_object()) return std::nullopt;
  while (w.next_member(key)) {
    if (key == "data") {
      if (std::exchange(seen_data, true) || !w.enter_array()) return std::nullopt;
      while (w.next_element()) {
        if (!w.enter_object()) return std::nullopt;
        std::optional<std::int64_t> index;
        std::optional<std::string_view> embedding;
        bool seen_index = false, seen_embedding = false;
        while (w.next_member(key)) {
          if (key == "index") {
            if (std::exchange(seen_index, true)) return std::nullopt;
            index = w.int64();
          } else if (key == "embedding") {
            if (std::exchange(seen_embedding, true)) return std::nullopt;
            embedding = w.string();
          } else {
            w.skip();
          }
          if (w.failed()) return std::nullopt;
        }
        if (w.failed() || !index || !embedding || *index < 0 || static_cast<std::size_t>(*index) >= n)
          return std::nullopt;
        std::vector<float>& v = out.vectors[static_cast<std::size_t>(*index)];
        if (!v.empty() || base64_decoded_size(*embedding) != dim * 4) return std::nullopt;
        v.resize(dim);
        if (!base64_decode(*embedding, reinterpret_cast<unsigned char*>(v.data())) || !all_finite(v))
          return std::nullopt;
        ++items;
      }
    } else if (key == "usage" && w.peek() == '{') {
      if (std::exchange(seen_usage, true)) return std::nullopt;
      w.enter_object();
      bool seen_tokens = false;
      while (w.next_member(key)) {
        if (key == "prompt_tokens") {
          if (std::exchange(seen_tokens, true)) return std::nullopt;
          if (auto tokens = w.int64()) out.prompt_tokens = *tokens;
        } else {
          w.skip();
        }
        if (w.failed()) return std::nullopt;
      }
    } else {
      if (key == "usage" && std::exchange(seen_usage, true)) return std::nullopt;
      w.skip();
    }
    if (w.failed()) return std::nullopt;
  }
  if (w.failed() || !w.done() || !seen_data || items != n) return std::nullopt;
  return out;
}

parsed parse_response(const std::string& body, std::size_t n, int dimension, std::string_view where) {
  if (auto walked = walk_answer(body, n, dimension)) return std::move(*walked);
  // A parser from the shared pool: its buffers, already sized and touched by earlier answers or
  // pages, are reused instead of a fresh parser's being allocated and faulted in for every answer.
  const json::parser_lease parser;
  simdjson::dom::element root;
  const simdjson::error_code err = json::parse_padded(*parser, body, root);
  if (err)
    throw embed_error(fmt::format("{}: the answer is not JSON ({}): {}", where, simdjson::error_message(err),
                                  http::excerpt(body, 200)));
  simdjson::dom::array data;
  if (root.at_key("data").get(data))
    throw embed_error(
        fmt::format("{}: the answer has no \"data\" array: {}", where, http::excerpt(body, 200)));
  parsed out;
  out.vectors.resize(n);
  std::vector<char> seen(n, 0);
  const auto dim = static_cast<std::size_t>(dimension);
  std::size_t items = 0;
  for (simdjson::dom::element item : data) {
    ++items;
    std::int64_t index = -1;
    if (item.at_key("index").get(index) || index < 0 || static_cast<std::size_t>(index) >= n)
      throw embed_error(fmt::format("{}: data item {} has index {} for a request of {} inputs", where,
                                    items - 1, index, n));
    const auto at = static_cast<std::size_t>(index);
    if (seen[at]) throw embed_error(fmt::format("{}: index {} comes twice in one answer", where, index));
    seen[at] = 1;
    simdjson::dom::element e;
    if (item.at_key("embedding").get(e))
      throw embed_error(fmt::format("{}: data item with index {} has no embedding", where, index));
    std::vector<float>& v = out.vectors[at];
    std::string_view b64;
    simdjson::dom::array arr;
    if (!e.get(b64)) {
      auto decoded = decode_float32(b64);
      if (!decoded)
        throw embed_error(
            fmt::format("{}: the embedding with index {} is not base64 of float32 values", where, index));
      v = std::move(*decoded);
    } else if (!e.get(arr)) {
      v.reserve(arr.size());
      for (simdjson::dom::element x : arr) {
        double d = 0;
        if (x.get(d))
          throw embed_error(fmt::format(
              "{}: the embedding with index {} holds something that is not a number", where, index));
        v.push_back(static_cast<float>(d));
      }
    } else {
      throw embed_error(fmt::format("{}: the embedding with index {} is neither base64 nor a list of numbers",
                                    where, index));
    }
    if (v.size() != dim)
      throw embed_error(fmt::format("{}: the embedding with index {} has dimension {}, expected {}", where,
                                    index, v.size(), dim));
    if (!all_finite(v))
      throw embed_error(
          fmt::format("{}: the embedding with index {} holds a value that is not finite", where, index));
  }
  if (items != n || std::find(seen.begin(), seen.end(), 0) != seen.end()) {
    std::string missing;
    std::size_t listed = 0, count = 0;
    for (std::size_t i = 0; i < n; ++i) {
      if (seen[i]) continue;
      ++count;
      if (listed++ < 10) missing += fmt::format("{}{}", missing.empty() ? "" : ", ", i);
    }
    throw embed_error(fmt::format("{}: {} embeddings came back for {} inputs; missing {}{}", where, items, n,
                                  missing, count > 10 ? ", ..." : ""));
  }
  std::int64_t tokens = 0;
  if (!root.at_pointer("/usage/prompt_tokens").get(tokens)) out.prompt_tokens = tokens;
  return out;
}

}  // namespace backfill::openai
