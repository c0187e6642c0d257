// Documents, chunks and records: the units that flow from a source to a sink.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "backfill/core/fields.hpp"

namespace backfill {

// A flat metadata value: the types every vector database accepts.
using meta_value = std::variant<std::string, double, bool, std::vector<std::string>>;

// Appends `v` as compact JSON (a string, a number, true/false, or an array of strings). A number that
// is not finite has no JSON form: callers leave such fields out.
void append_json(std::string& out, const meta_value& v);

struct meta_field {
  std::string key;
  meta_value value;
};

// Ordered list of fields (order is kept for readability; serialization sorts keys).
class metadata {
 public:
  void set(std::string key, meta_value value);
  const meta_value* get(std::string_view key) const noexcept;
  const std::vector<meta_field>& fields() const noexcept { return fields_; }
  bool empty() const noexcept { return fields_.empty(); }
  // Canonical JSON object: keys sorted bytewise, compact. Hashing this gives the metadata hash.
  std::string to_json() const;

 private:
  std::vector<meta_field> fields_;
};

// One item of a source, normalized. `id` is stable and source-prefixed (`slack:C024BE91L:1699.0001`).
struct document {
  std::string id;
  std::string source;     // "slack_export", "jira", ...
  std::string partition;  // the partition it came from
  std::string title;
  std::string text;
  std::string url;
  std::string created_at;  // ISO 8601, UTC
  std::string updated_at;  // ISO 8601, UTC; dedup keeps the latest
  metadata meta;

  // Hash of everything that ends up in the sink; an unchanged hash means nothing to do.
  std::string content_hash() const;
};

// A piece of a document's text, the unit that is embedded and stored. id = `<document id>#<n>`.
struct chunk {
  std::string id;
  std::string doc_id;
  int index = 0;
  std::string text;       // what is embedded (title as context + the slice of text)
  std::string text_hash;  // the embedding cache key
};

// What a sink stores: id, vector, metadata as canonical JSON.
struct record {
  std::string id;
  std::vector<float> values;
  std::string metadata_json;
};
BACKFILL_FIELDS(record, &s::id, &s::values, &s::metadata_json)

// What a sink returns from fetch.
struct fetched_record {
  std::string id;
  std::vector<float> values;
  std::string metadata_json;
};
BACKFILL_FIELDS(fetched_record, &s::id, &s::values, &s::metadata_json)

struct query_match {
  std::string id;
  double score = 0;
  std::string metadata_json;
};
BACKFILL_FIELDS(query_match, &s::id, &s::score, &s::metadata_json)

std::string chunk_id(std::string_view doc_id, int index);

// A source's key (a Jira issue key, a Slack conversation id) as it goes into a document id: control
// characters (NUL included, U+0000-U+001F and U+007F) and '%' become %XX (upper-case hex), everything
// else stays. Ids stay printable, and two different keys never share one.
std::string escape_key(std::string_view key);

}  // namespace backfill
