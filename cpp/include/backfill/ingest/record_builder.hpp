// Record building: a document becomes its chunks' records (all but the vectors), done once, here:
// chunk the text, give each chunk the document's metadata, fit the id and the metadata to the sink.
#pragma once

#include <cstddef>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "backfill/core/document.hpp"
#include "backfill/ingest/batch.hpp"
#include "backfill/ingest/chunker.hpp"
#include "backfill/pack/sanitize.hpp"

namespace backfill {

// The metadata of one chunk's record, as canonical JSON: the document's own fields, then doc_id,
// source, partition, title, url, created_at, updated_at (those not empty), the chunk's index and text.
std::string record_metadata(const document& doc, const chunk& c);

class record_builder {
 public:
  using id_fitter = std::function<std::string(std::string_view)>;  // sink::fit_record_id

  // `metadata_limit`: the most bytes of metadata a record may carry (0 = no limit).
  record_builder(chunker_options chunking, std::size_t metadata_limit, id_fitter fit_id);

  // The records of `doc`, whose content hash is `content_hash`. Metadata takes the one metadata
  // step (fit_metadata, pack/sanitize.hpp) when the sink has a limit: fitted in place (what changed
  // is counted in `fitted`); a chunk whose metadata cannot fit even so is left out and its id added
  // to `unfit`.
  pending_doc build(const document& doc, std::string content_hash, sanitize_report& fitted,
                    std::vector<std::string>& unfit) const;

 private:
  chunker_options chunking_;
  std::size_t metadata_limit_;
  sanitize_options sanitize_;
  id_fitter fit_id_;
};

}  // namespace backfill
