// Pinecone's gRPC data plane, as far as upserts need it: the protobuf bytes of
// VectorService/Upsert (db_data_2025-10.proto), the gRPC message frame around them, and the
// meaning of a grpc-status.
//
//   UpsertRequest  { repeated Vector vectors = 1; string namespace = 2; }
//   Vector         { string id = 1; repeated float values = 2 (packed); Struct metadata = 3; }
//   UpsertResponse { uint32 upserted_count = 1; }
//   google.protobuf.Struct { map<string, Value> fields = 1; }  (entry: key = 1, value = 2)
//   Value          { null_value = 1 (varint); number_value = 2 (double); string_value = 3;
//                    bool_value = 4; struct_value = 5; list_value = 6 (ListValue { repeated Value values = 1;
//                    }) }
//
// The writer is small and hand-made rather than libprotobuf-generated: the request is written
// straight into the body the HTTP engine sends (the float values with one memcpy), with no message
// object in between and no code generation step in the build. The tests decode its bytes
// independently.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "backfill/core/document.hpp"
#include "backfill/pack/packer.hpp"

namespace backfill::grpc {

// --- protobuf wire format -----------------------------------------------------------------------

enum class wire : std::uint8_t { varint = 0, fixed64 = 1, len = 2, fixed32 = 5 };

constexpr std::size_t varint_size(std::uint64_t v) noexcept {
  std::size_t n = 1;
  while (v >= 0x80) {
    v >>= 7;
    ++n;
  }
  return n;
}
void append_varint(std::string& out, std::uint64_t v);
inline void append_tag(std::string& out, int field, wire w) {
  append_varint(out, (static_cast<std::uint64_t>(field) << 3) | static_cast<std::uint64_t>(w));
}
// Bytes of a length-delimited field (its tag of field number < 16, its length, its payload).
constexpr std::size_t len_field_size(std::size_t payload) noexcept {
  return 1 + varint_size(payload) + payload;
}

// --- Upsert ---------------------------------------------------------------------------------------

// Writes UpsertRequest messages, framed for gRPC (1 byte "not compressed" + 4 bytes big-endian
// length), into a body, for the packer (pack/packer.hpp). One encoder per thread: it keeps a JSON
// parser and scratch space between records.
class upsert_encoder final : public pack::encoder {
 public:
  explicit upsert_encoder(std::string name_space);
  ~upsert_encoder() override;
  upsert_encoder(const upsert_encoder&) = delete;
  upsert_encoder& operator=(const upsert_encoder&) = delete;

  // Bytes of a body holding no record: the frame prefix and the namespace field.
  std::size_t overhead() const noexcept override { return 5 + ns_field_; }
  std::size_t separator() const noexcept override { return 0; }
  // Encodes the record's metadata (a JSON object's text; "" or "{}" = none) and returns the bytes
  // its Vector field will take in the body. Throws backfill::error on metadata that is not a JSON object.
  std::size_t prepare(const record& r) override;
  // Starts a request in `body` (cleared first).
  void begin(std::string& body) override;
  // Appends the Vector field of the record prepare() was last called with.
  void append(std::string& body, const record& r, bool first) override;
  // Closes the request: writes the message length into the frame prefix.
  void finish(std::string& body) override;

 private:
  struct parser;
  std::string ns_;
  std::size_t ns_field_ = 0;
  std::unique_ptr<parser> parser_;
  std::string metadata_;    // the Struct message of the prepared record
  std::size_t vector_ = 0;  // its Vector message's size
};

// The Struct message (without tag or length) of a JSON object's text, appended to `out`.
// Throws backfill::error when `json` is not a JSON object.
void append_struct(std::string& out, std::string_view json);

// upserted_count of a gRPC response body (frame prefix + UpsertResponse); nullopt when the body is
// not one framed, uncompressed message. An empty message is a count of 0 (proto3 leaves zeros out).
std::optional<std::uint32_t> read_upserted_count(std::string_view body);

// --- status -------------------------------------------------------------------------------------

// "UNAVAILABLE" for 14, ...; "code N" for a number gRPC does not define.
std::string status_name(int code);
// Codes that retrying may fix: UNAVAILABLE, RESOURCE_EXHAUSTED (Pinecone's rate limit),
// DEADLINE_EXCEEDED and ABORTED.
bool status_retryable(int code) noexcept;
// grpc-message is percent-encoded (gRPC over HTTP/2 spec); invalid escapes stay as they are.
std::string percent_decode(std::string_view s);

}  // namespace backfill::grpc
