// The plan's sample: the first pages of each partition, fetched into memory (never the journal), run
// through the source's normalizer and the chunker as ingest runs them, give the tokens, chunks and
// journal bytes per item; a partition the sample read to its end is counted, not estimated.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "backfill/core/context.hpp"
#include "backfill/ingest/chunker.hpp"
#include "backfill/ledger/ledger.hpp"
#include "backfill/sources/source.hpp"

namespace backfill::plan_sample {

struct settings {
  std::size_t pages_per_partition = 3;
  std::size_t max_pages = 40;  // over all partitions; 0 = no sample
  chunker_options chunking;
  std::string embedder;  // embedder::identity(), to find the chunks already in the embedding cache
};

// What the sample of one partition read.
struct partition_sample {
  std::int64_t items = 0, pages = 0, bytes = 0, documents = 0, chunks = 0, tokens = 0, cached_tokens = 0;
  double seconds = 0;  // the fetch of the sample took
  bool whole = false;  // the partition ended within the sample
};

// A source whose pages cost it dearly (Slack's history under the non-Marketplace limits: a minute a
// page) marks a partition not to sample by planning it with sampled_items -1.
//
// Reads the sample, in plan order (a partition's normalizer may read an earlier one's pages, as
// Slack's names come from its workspace partition). Sets each partition's sampled_items, and
// estimated_items and estimated_pages where the source left them unknown and the sample read the
// whole partition. A partition whose sample fails (the source refuses it) is left out, with a warning.
// Progress: the plan's "sample pages" pass, its total the most it may read.
std::vector<partition_sample> read(source& src, ledger* cache, const settings& how,
                                   std::vector<partition_plan>& partitions, run_context& ctx);

// Sets estimated_documents, estimated_chunks, estimated_tokens, cached_tokens and estimated_bytes from the
// sample per item and each partition's estimated_items; partitions the budget left unsampled get the sampled
// ones' average per item. A partition whose time the source left unknown (no rate to pace it by) gets its
// requests at the pace the sample's pages came.
void apply(const std::vector<partition_sample>& samples, std::vector<partition_plan>& partitions);

}  // namespace backfill::plan_sample
