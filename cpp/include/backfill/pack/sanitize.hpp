// The metadata sanitizer, shared by every sink with limits (Pinecone first). Input: a JSON object.
// Output: canonical JSON (keys sorted, compact) that such a sink accepts and that fits its size limit:
//   - only strings, finite numbers, booleans and lists of strings remain;
//   - nulls are dropped; nested objects are flattened into dotted keys ("a": {"b": 1} -> "a.b": 1);
//     list items that are not strings become their JSON text (null items are left out);
//   - when the serialized size exceeds max_bytes, fields are shortened, never cut inside a code point,
//     in this order: the `truncate_first` fields in their order, then every other field, longest first,
//     then the `identity` fields in their order; a field that cannot be shortened enough is dropped,
//     except an identity field: then the record cannot be fitted (nullopt) and the caller skips and
//     reports it.
// Every change is counted per field in the report. Size is measured on exactly the bytes sent.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "backfill/core/fields.hpp"

namespace backfill {

struct sanitize_options {
  std::size_t max_bytes = 40960;
  std::vector<std::string> truncate_first = {"text"};
  std::vector<std::string> identity = {"title",      "url",    "partition", "created_at",
                                       "updated_at", "source", "doc_id",    "chunk"};
};

struct sanitize_report {
  std::map<std::string, std::int64_t> truncated;  // field -> records whose value was shortened
  std::map<std::string, std::int64_t> dropped;  // field -> records that lost it (null, too large, collision)
  std::map<std::string, std::int64_t> flattened;  // object field -> records where it was flattened
  std::map<std::string, std::int64_t> converted;  // list field -> records where items became strings
  void merge(const sanitize_report& other);
  bool empty() const {
    return truncated.empty() && dropped.empty() && flattened.empty() && converted.empty();
  }
};
BACKFILL_FIELDS(sanitize_report, &s::truncated, &s::dropped, &s::flattened, &s::converted)

// Returns the sanitized metadata, or nullopt when the identity fields alone do not fit in max_bytes.
// Throws backfill::error when `json` is not a JSON object.
std::optional<std::string> sanitize_metadata(std::string_view json, const sanitize_options& options,
                                             sanitize_report& report);

// The metadata step of a record bound for a sink with limits, taken once, where the record is built
// (the ingest's record building; Sink.upsert from Python, before packing); sinks send what they get.
// Metadata that may break the rules above (over max_bytes, a null, a nested object) is sanitized in
// place; metadata that cannot break them is left as it is, unparsed. False when it cannot be fitted:
// the record must not be sent. Throws backfill::error when sanitizing finds no JSON object.
bool fit_metadata(std::string& json, const sanitize_options& options, sanitize_report& report);

// An id that fits `max_bytes`: unchanged when it fits, else a prefix (cut on a code point) plus "~" and a
// hash of the whole id, so distinct ids stay distinct and the same id always maps the same way.
std::string fit_id(std::string_view id, std::size_t max_bytes);

}  // namespace backfill
