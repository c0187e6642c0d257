// How the local index stores records, shared by its writes and reads (local_index.cpp) and its search
// (query.cpp): vectors as little-endian float32 blobs, read snapshots, and the error the caller sees.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "backfill/core/errors.hpp"
#include "backfill/ledger/sqlite.hpp"

namespace backfill::local_store {

// Writes `values` into `out` as a blob of 4 * values.size() bytes.
void encode_vector(const std::vector<float>& values, std::string& out);
// Decodes `blob` (4 * out.size() bytes) into `out`.
void decode_vector(std::string_view blob, std::vector<float>& out);

// A deferred read transaction: one consistent snapshot for multi-statement reads.
using sql::read_snapshot;

// The SQLite layer reports a busy or damaged file as io_error; for the index the caller should see a
// sink_error with the same message, since the index is the sink.
template <class F>
auto translate(F&& f) -> decltype(f()) {
  try {
    return f();
  } catch (const io_error& e) {
    throw sink_error(e.what());
  }
}

inline std::string in_quotes(std::string_view s) {
  std::string out = "\"";
  out += s;
  out += '"';
  return out;
}

}  // namespace backfill::local_store
