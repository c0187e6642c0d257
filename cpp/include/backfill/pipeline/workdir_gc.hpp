// The workdir's size by part, and what `backfill gc` may remove from it.
#pragma once

#include <filesystem>

#include "backfill/ledger/ledger.hpp"
#include "backfill/pipeline/reports.hpp"

namespace backfill {

// File sizes under `workdir`: journal/, state.sqlite (split into the ledger and its embedding
// cache), and the rest.
workdir_usage measure_workdir(const std::filesystem::path& workdir, ledger& book);

// Removes the files under `workdir`/journal that no ledger row names: a page a killed fetch wrote
// and never recorded (the next fetch writes it again), temp files of interrupted writes. Returns
// how many were removed.
std::int64_t remove_orphan_journal_files(const std::filesystem::path& workdir, ledger& book);

}  // namespace backfill
