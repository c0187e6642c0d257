// Verification: reads the sink back and compares it with what the ledger says was written: the
// record count (baseline + live chunks), then every id (or a uniform sample) and its metadata hash.
#pragma once

#include <cstddef>
#include <cstdint>

#include "backfill/core/context.hpp"
#include "backfill/ledger/ledger.hpp"
#include "backfill/pipeline/reports.hpp"
#include "backfill/sinks/sink.hpp"

namespace backfill {

struct verify_options {
  double count_timeout_seconds = 60;  // how long to wait for a lagging count
  double count_poll_seconds = 0.5;
  std::size_t max_examples = 50;  // ids listed in the report
};

// `sample` > 0 fetches back a random sample of that many ids instead of all of them.
verify_report verify_sink(sink& snk, ledger& book, const verify_options& options, run_context& ctx,
                          std::int64_t sample = 0);

}  // namespace backfill
