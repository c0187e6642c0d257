// Records handed to a sink from outside the pipeline (Sink.upsert from Python): the metadata step
// the pipeline takes when it builds a record.
#pragma once

#include <cstdint>
#include <vector>

#include "backfill/core/document.hpp"
#include "backfill/sinks/sink.hpp"

namespace backfill::pack {

// Fits each record's metadata to target.metadata_limit() (fit_metadata, pack/sanitize.hpp; nothing
// when the sink has no limit); a record that cannot be fitted is logged and removed. Logs what was
// changed. Returns the number of records removed.
std::size_t fit_records(const sink& target, std::vector<record>& records);

// fit_records, then target.upsert: the acknowledged count.
std::int64_t upsert_fitted(sink& target, std::vector<record>& records);

}  // namespace backfill::pack
