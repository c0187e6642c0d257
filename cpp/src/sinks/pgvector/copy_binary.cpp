#include "backfill/sinks/pgvector/copy_binary.hpp"

#include "backfill/core/json.hpp"

#include <bit>
#include <cstdint>
#include <type_traits>

namespace backfill::pgcopy {
namespace {

template <class T>
void append_be(std::string& out, T v) {
  static_assert(std::is_integral_v<T>);
  using U = std::make_unsigned_t<T>;
  U u = static_cast<U>(v);
  char bytes[sizeof(U)];
  for (std::size_t i = 0; i < sizeof(U); ++i) bytes[i] = static_cast<char>(u >> (8 * (sizeof(U) - 1 - i)));
  out.append(bytes, sizeof(U));
}

template <class T>
T read_be(const char* p) {
  using U = std::make_unsigned_t<T>;
  U u = 0;
  for (std::size_t i = 0; i < sizeof(U); ++i) u = static_cast<U>((u << 8) | static_cast<unsigned char>(p[i]));
  return static_cast<T>(u);
}

}  // namespace

void append_header(std::string& out) {
  static constexpr char signature[] = "PGCOPY\n\377\r\n";  // 11 bytes with the terminating NUL
  out.append(signature, sizeof(signature));
  append_be<std::int32_t>(out, 0);  // flags: no OIDs
  append_be<std::int32_t>(out, 0);  // no header extension
}

void append_trailer(std::string& out) { append_be<std::int16_t>(out, -1); }

void append_row_start(std::string& out, int fields) { append_be(out, static_cast<std::int16_t>(fields)); }

void append_text(std::string& out, std::string_view text) {
  append_be(out, static_cast<std::int32_t>(text.size()));
  out.append(text);
}

// jsonb refuses the escape \u0000 and would fail the whole batch. Records from the pipeline come
// without it (the record builder replaces it); Sink.upsert's records from Python may not.
void append_jsonb(std::string& out, std::string_view json) {
  std::string replaced;
  if (json.find("\\u0000") != std::string_view::npos) {
    replaced.assign(json);
    json::replace_nul_escapes(replaced);
    json = replaced;
  }
  append_be(out, static_cast<std::int32_t>(json.size() + 1));
  out.push_back('\1');
  out.append(json);
}

void append_vector(std::string& out, const std::vector<float>& values) {
  const std::size_t n = values.size();
  append_be(out, static_cast<std::int32_t>(4 + 4 * n));
  append_be(out, static_cast<std::int16_t>(n));
  append_be<std::int16_t>(out, 0);
  const std::size_t at = out.size();
  out.resize(at + 4 * n);
  char* p = out.data() + at;
  for (std::size_t i = 0; i < n; ++i, p += 4) {
    std::uint32_t bits = std::bit_cast<std::uint32_t>(values[i]);
    p[0] = static_cast<char>(bits >> 24);
    p[1] = static_cast<char>(bits >> 16);
    p[2] = static_cast<char>(bits >> 8);
    p[3] = static_cast<char>(bits);
  }
}

std::optional<std::vector<float>> read_vector(const char* data, std::size_t size) {
  if (size < 4) return std::nullopt;
  const auto n = read_be<std::int16_t>(data);
  if (n < 0 || size != 4 + 4 * static_cast<std::size_t>(n)) return std::nullopt;
  std::vector<float> out(static_cast<std::size_t>(n));
  for (std::size_t i = 0; i < out.size(); ++i)
    out[i] = std::bit_cast<float>(read_be<std::uint32_t>(data + 4 + 4 * i));
  return out;
}

std::optional<std::string_view> read_jsonb(const char* data, std::size_t size) {
  if (size < 1 || data[0] != '\1') return std::nullopt;
  return std::string_view(data + 1, size - 1);
}

}  // namespace backfill::pgcopy
