#include "backfill/pack/grpc.hpp"

#include <algorithm>
#include <bit>
#include <cstring>
#include <limits>

#include <fmt/format.h>
#include <simdjson.h>

#include "backfill/core/errors.hpp"

namespace backfill::grpc {
namespace {

static_assert(sizeof(float) == 4 && std::numeric_limits<float>::is_iec559,
              "protobuf floats are IEEE 754 binary32");
static_assert(sizeof(double) == 8 && std::numeric_limits<double>::is_iec559,
              "protobuf doubles are IEEE 754 binary64");

// Tags of the fields written here (field number << 3 | wire type), all below 16: one byte each.
constexpr char upsert_vectors = 0x0A;    // UpsertRequest.vectors = 1, len
constexpr char upsert_namespace = 0x12;  // UpsertRequest.namespace = 2, len
constexpr char vector_id = 0x0A;         // Vector.id = 1, len
constexpr char vector_values = 0x12;     // Vector.values = 2, len (packed)
constexpr char vector_metadata = 0x1A;   // Vector.metadata = 3, len
constexpr char struct_fields = 0x0A;     // Struct.fields = 1, len (map entry)
constexpr char entry_key = 0x0A;         // map entry key = 1, len
constexpr char entry_value = 0x12;       // map entry value = 2, len
constexpr char value_null = 0x08;        // Value.null_value = 1, varint
constexpr char value_number = 0x11;      // Value.number_value = 2, fixed64
constexpr char value_string = 0x1A;      // Value.string_value = 3, len
constexpr char value_bool = 0x20;        // Value.bool_value = 4, varint
constexpr char value_struct = 0x2A;      // Value.struct_value = 5, len
constexpr char value_list = 0x32;        // Value.list_value = 6, len
constexpr char list_values = 0x0A;       // ListValue.values = 1, len

void append_len(std::string& out, char tag, std::string_view payload) {
  out.push_back(tag);
  append_varint(out, payload.size());
  out.append(payload);
}

// Little-endian bytes, as protobuf's fixed-width types are written.
template <class T>
void append_le(std::string& out, T v) {
  char bytes[sizeof(T)];
  std::memcpy(bytes, &v, sizeof(T));
  if constexpr (std::endian::native == std::endian::big) std::reverse(bytes, bytes + sizeof(T));
  out.append(bytes, sizeof(T));
}

// Values, structs and lists are sized before they are written, so each length prefix is written
// once and in its shortest form. Metadata is flat (the sanitizer sees to it), so the recursion
// is shallow.
std::size_t struct_size(simdjson::dom::object obj);
void write_struct(std::string& out, simdjson::dom::object obj);

std::size_t value_size(simdjson::dom::element e) {
  using simdjson::dom::element_type;
  switch (e.type()) {
    case element_type::NULL_VALUE: return 2;
    case element_type::BOOL: return 2;
    case element_type::INT64:
    case element_type::UINT64:
    case element_type::DOUBLE: return 9;
    case element_type::STRING: return len_field_size(e.get_string().value_unsafe().size());
    case element_type::OBJECT: return len_field_size(struct_size(e.get_object().value_unsafe()));
    case element_type::ARRAY: {
      // Copied out of the simdjson_result first: a range-for over value_unsafe() of the temporary
      // would iterate a dangling reference.
      simdjson::dom::array arr = e.get_array().value_unsafe();
      std::size_t n = 0;
      for (simdjson::dom::element v : arr) n += len_field_size(value_size(v));
      return len_field_size(n);
    }
  }
  return 0;
}

void write_value(std::string& out, simdjson::dom::element e) {
  using simdjson::dom::element_type;
  switch (e.type()) {
    case element_type::NULL_VALUE:
      out.push_back(value_null);
      out.push_back(0);  // NULL_VALUE = 0
      break;
    case element_type::BOOL:
      out.push_back(value_bool);
      out.push_back(e.get_bool().value_unsafe() ? char{1} : char{0});
      break;
    case element_type::INT64:
      out.push_back(value_number);
      append_le(out, static_cast<double>(e.get_int64().value_unsafe()));
      break;
    case element_type::UINT64:
      out.push_back(value_number);
      append_le(out, static_cast<double>(e.get_uint64().value_unsafe()));
      break;
    case element_type::DOUBLE:
      out.push_back(value_number);
      append_le(out, e.get_double().value_unsafe());
      break;
    case element_type::STRING: append_len(out, value_string, e.get_string().value_unsafe()); break;
    case element_type::OBJECT: {
      simdjson::dom::object obj = e.get_object().value_unsafe();
      out.push_back(value_struct);
      append_varint(out, struct_size(obj));
      write_struct(out, obj);
      break;
    }
    case element_type::ARRAY: {
      simdjson::dom::array arr = e.get_array().value_unsafe();
      std::size_t n = 0;
      for (simdjson::dom::element v : arr) n += len_field_size(value_size(v));
      out.push_back(value_list);
      append_varint(out, n);
      for (simdjson::dom::element v : arr) {
        out.push_back(list_values);
        append_varint(out, value_size(v));
        write_value(out, v);
      }
      break;
    }
  }
}

std::size_t entry_size(std::string_view key, simdjson::dom::element v) {
  return len_field_size(key.size()) + len_field_size(value_size(v));
}

std::size_t struct_size(simdjson::dom::object obj) {
  std::size_t n = 0;
  for (auto kv : obj) n += len_field_size(entry_size(kv.key, kv.value));
  return n;
}

void write_struct(std::string& out, simdjson::dom::object obj) {
  for (auto kv : obj) {
    out.push_back(struct_fields);
    append_varint(out, entry_size(kv.key, kv.value));
    append_len(out, entry_key, kv.key);
    out.push_back(entry_value);
    append_varint(out, value_size(kv.value));
    write_value(out, kv.value);
  }
}

simdjson::dom::object parse_object(simdjson::dom::parser& parser, std::string_view json) {
  simdjson::dom::element root;
  simdjson::dom::object obj;
  if (auto err = parser.parse(json.data(), json.size()).get(root))
    throw error(fmt::format("metadata is not JSON: {}", simdjson::error_message(err)));
  if (root.get(obj)) throw error("metadata is not a JSON object");
  return obj;
}

bool empty_metadata(std::string_view json) { return json.empty() || json == "{}"; }

}  // namespace

void append_varint(std::string& out, std::uint64_t v) {
  char bytes[10];
  std::size_t n = 0;
  while (v >= 0x80) {
    bytes[n++] = static_cast<char>((v & 0x7F) | 0x80);
    v >>= 7;
  }
  bytes[n++] = static_cast<char>(v);
  out.append(bytes, n);
}

struct upsert_encoder::parser {
  simdjson::dom::parser json;
};

upsert_encoder::upsert_encoder(std::string name_space)
    : ns_(std::move(name_space)),
      ns_field_(ns_.empty() ? 0 : len_field_size(ns_.size())),
      parser_(std::make_unique<parser>()) {}

upsert_encoder::~upsert_encoder() = default;

void upsert_encoder::begin(std::string& body) {
  body.clear();
  body.append(5, '\0');  // the frame prefix: not compressed, length written by finish()
  if (!ns_.empty()) append_len(body, upsert_namespace, ns_);  // proto3 leaves out an empty string
}

std::size_t upsert_encoder::prepare(const record& r) {
  metadata_.clear();
  if (!empty_metadata(r.metadata_json)) {
    simdjson::dom::object obj = parse_object(parser_->json, r.metadata_json);
    write_struct(metadata_, obj);
  }
  vector_ = len_field_size(r.id.size()) + (r.values.empty() ? 0 : len_field_size(r.values.size() * 4)) +
            (metadata_.empty() ? 0 : len_field_size(metadata_.size()));
  return len_field_size(vector_);
}

void upsert_encoder::append(std::string& body, const record& r, bool) {
  body.push_back(upsert_vectors);
  append_varint(body, vector_);
  append_len(body, vector_id, r.id);
  if (!r.values.empty()) {
    body.push_back(vector_values);
    append_varint(body, r.values.size() * 4);
    if constexpr (std::endian::native == std::endian::little) {
      // Packed floats are little-endian binary32: the vector's own bytes, in one copy.
      body.append(reinterpret_cast<const char*>(r.values.data()), r.values.size() * 4);
    } else {
      for (float v : r.values) append_le(body, v);
    }
  }
  if (!metadata_.empty()) append_len(body, vector_metadata, metadata_);
}

void upsert_encoder::finish(std::string& body) {
  auto n = static_cast<std::uint32_t>(body.size() - 5);
  body[0] = 0;
  body[1] = static_cast<char>((n >> 24) & 0xFF);
  body[2] = static_cast<char>((n >> 16) & 0xFF);
  body[3] = static_cast<char>((n >> 8) & 0xFF);
  body[4] = static_cast<char>(n & 0xFF);
}

void append_struct(std::string& out, std::string_view json) {
  if (empty_metadata(json)) return;
  simdjson::dom::parser p;
  write_struct(out, parse_object(p, json));
}

std::optional<std::uint32_t> read_upserted_count(std::string_view body) {
  if (body.size() < 5 || body[0] != 0) return std::nullopt;
  auto u = [&](std::size_t i) { return static_cast<std::uint32_t>(static_cast<unsigned char>(body[i])); };
  std::uint32_t n = (u(1) << 24) | (u(2) << 16) | (u(3) << 8) | u(4);
  if (n != body.size() - 5) return std::nullopt;
  std::uint32_t count = 0;
  std::size_t i = 5;
  auto varint = [&](std::uint64_t& v) {
    v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      if (i >= body.size()) return false;
      auto b = static_cast<unsigned char>(body[i++]);
      v |= static_cast<std::uint64_t>(b & 0x7F) << shift;
      if (b < 0x80) return true;
    }
    return false;
  };
  while (i < body.size()) {  // unknown fields are skipped, as protobuf parsers do
    std::uint64_t tag = 0, v = 0;
    if (!varint(tag)) return std::nullopt;
    switch (static_cast<wire>(tag & 7)) {
      case wire::varint:
        if (!varint(v)) return std::nullopt;
        if ((tag >> 3) == 1) count = static_cast<std::uint32_t>(v);
        break;
      case wire::fixed64: i += 8; break;
      case wire::fixed32: i += 4; break;
      case wire::len:
        if (!varint(v) || v > body.size() - i) return std::nullopt;
        i += v;
        break;
      default: return std::nullopt;
    }
  }
  if (i != body.size()) return std::nullopt;
  return count;
}

std::string status_name(int code) {
  static constexpr const char* names[] = {
      "OK",        "CANCELLED",      "UNKNOWN",           "INVALID_ARGUMENT",   "DEADLINE_EXCEEDED",
      "NOT_FOUND", "ALREADY_EXISTS", "PERMISSION_DENIED", "RESOURCE_EXHAUSTED", "FAILED_PRECONDITION",
      "ABORTED",   "OUT_OF_RANGE",   "UNIMPLEMENTED",     "INTERNAL",           "UNAVAILABLE",
      "DATA_LOSS", "UNAUTHENTICATED"};
  if (code >= 0 && code <= 16) return names[code];
  return fmt::format("code {}", code);
}

bool status_retryable(int code) noexcept {
  return code == 14 /* UNAVAILABLE */ || code == 8 /* RESOURCE_EXHAUSTED */ ||
         code == 4 /* DEADLINE_EXCEEDED */ || code == 10 /* ABORTED */;
}

std::string percent_decode(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  auto hex = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  for (std::size_t i = 0; i < s.size(); ++i) {
    int hi = 0, lo = 0;
    if (s[i] == '%' && i + 2 < s.size() && (hi = hex(s[i + 1])) >= 0 && (lo = hex(s[i + 2])) >= 0) {
      out.push_back(static_cast<char>(hi * 16 + lo));
      i += 2;
    } else {
      out.push_back(s[i]);
    }
  }
  return out;
}

}  // namespace backfill::grpc
