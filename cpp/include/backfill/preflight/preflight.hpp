// Runs a run's preflight checks (checks.hpp) and the probes every adapter may share.
#pragma once

#include <cstddef>
#include <filesystem>

#include "backfill/core/context.hpp"
#include "backfill/preflight/checks.hpp"

namespace backfill {

class source;
class embedder;
class sink;

// The workdir's free disk, then the source's checks, the sink's (against the embedder's dimension),
// and last the embedder's, which may cost an embedding of one input: it runs only when every other
// check passed, so a run stopped by its checks has spent nothing. Components written in Python are
// not called (their checks are listed as skipped).
// `before_run`: the checks a run performs first. The embedder's is left out (a refused key costs
// nothing and stops the run at its first embedding; a good one would pay for an input the run does
// not use), so is the pagination probe (the run's fetch pages behind the same guard, and the
// probe's pages would be fetched twice; the run's ingest takes a partition's page only once the
// next one has passed the guard, so a cursor that repeats costs no embedding), and a check that
// throws stops them with its error, as the run would have met it.
preflight_report preflight(source& src, embedder& emb, sink& snk, const std::filesystem::path& workdir,
                           run_context& ctx, bool before_run = false);

// What a paging source runs from its preflight hook: the first two pages of its planned partition
// number `first` (a source whose first partitions do not page skips them), fetched into memory
// (nothing is journaled): the cursor must move and the second page must not repeat the first one's
// ids. Before a run, listed as skipped.
void probe_pagination(source& src, preflight_checks& out, run_context& ctx, std::size_t first = 0);

// The sink's stats (sink::stats): it answers, and its vectors (if any) have `dimension` values.
void check_sink_dimension(sink& snk, int dimension, preflight_checks& out);

}  // namespace backfill
