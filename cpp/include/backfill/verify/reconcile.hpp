// Reconcile: deletes from the sink (and the ledger) the documents the source no longer holds.
#pragma once

#include <cstddef>
#include <vector>

#include "backfill/core/context.hpp"
#include "backfill/ledger/ledger.hpp"
#include "backfill/pipeline/reports.hpp"
#include "backfill/sinks/sink.hpp"
#include "backfill/sources/source.hpp"

namespace backfill {

// Lists the ids of every partition of `src`, and deletes the ledger's documents for `snk` that are
// not among them. Refuses, with nothing deleted, when that would be more than `max_fraction` of the
// documents: an empty listing after a permission change must not wipe an index.
reconcile_report reconcile_with_source(source& src, sink& snk, ledger& book,
                                       const std::vector<partition_plan>& partitions, double max_fraction,
                                       std::size_t max_examples, run_context& ctx);

}  // namespace backfill
