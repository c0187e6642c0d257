// Core records from the record dicts Sink.upsert takes (see records.cpp). Needs the GIL.
#pragma once

#include <cstdint>
#include <vector>

#include "backfill/core/document.hpp"
#include "backfill/sinks/sink.hpp"
#include "bindings.hpp"

namespace backfill::python {

// The records of a list of record dicts (large lists are read on helper threads too).
std::vector<record> records_from_python(const py::handle& records);
// sink.upsert(records) of a list of record dicts: converting slices overlaps with sending the
// previous ones. Raises the first error of either.
std::int64_t upsert_from_python(sink& target, const py::list& records);

}  // namespace backfill::python
