// Restoring a ledger from the sink: what a workdir that was lost (an ephemeral worker, a cleaned disk)
// needs to go on without paying the embedding API again.
//
// Every record backfill writes carries its provenance in its metadata (ingest/record_builder.hpp):
// doc_id, partition, updated_at, the document's content hash, the chunk text's hash and the embedder's
// identity. A workdir whose ledger has never written to the sink lists the sink's ids (sink::list),
// fetches them back (sink::fetch, with values and metadata) and records, for every record of this
// source: the chunk as live with the hash of its metadata as read back, its document as complete
// with its content hash (so an unchanged document is skipped by ingest; one whose chunks are not all
// there is left pending, to be written again), and its vector in the
// embedding cache when the embedder's identity and dimension match (so a changed document whose
// chunk texts are the same is not embedded again). Records without provenance (other writers',
// or written by an older backfill) are left alone and counted in the sink's baseline.
#pragma once

#include <cstdint>
#include <string>

#include "backfill/core/context.hpp"
#include "backfill/ledger/ledger.hpp"
#include "backfill/sinks/sink.hpp"

namespace backfill {

struct restore_result {
  std::int64_t listed = 0;     // ids the sink listed
  std::int64_t chunks = 0;     // records recognised as this backfill's
  std::int64_t documents = 0;  // documents rebuilt in the ledger
  std::int64_t vectors = 0;    // vectors put in the embedding cache
  std::int64_t partial = 0;    // documents the sink holds only some chunks of: written again
  bool supported = true;       // false: the sink cannot list or fetch (a full run follows)
};

// `source_kind`: documents whose "source" metadata differs are not this backfill's; `id_prefix`: what
// the sink lists (source::id_prefix, "" = everything). Throws nothing for a sink that cannot list
// (supported = false, with a log line saying a full run follows). `sink_count`: the records the sink
// holds (sink_stats::count), the progress's total (-1 when not known); with a prefix, the listing may
// end short of it.
restore_result restore_from_sink(sink& snk, ledger& book, std::string_view source_kind,
                                 std::string_view embedder_identity, int dimension, run_context& ctx,
                                 std::string_view id_prefix = {}, std::int64_t sink_count = -1);

}  // namespace backfill
