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
// With `provenance`, also what a fresh workdir needs to recognise the record in the sink (see
// pipeline/restore.hpp): the document's content hash, the chunk text's hash and the embedder.
struct record_provenance {
  std::string doc_hash;
  std::string embedder;     // embedder::identity()
  std::string source_kind;  // source::kind(): which backfill's records these are
  int chunks = 0;           // how many chunks the document has: a restore tells a whole one from a part
};
std::string record_metadata(const document& doc, const chunk& c,
                            const record_provenance* provenance = nullptr);

// record_metadata for each chunk of one document. The fields its chunks share are sorted and
// written once; a chunk's metadata is those bytes with its own fields (index, text, text hash) put
// in their sorted places, so a chunk costs the writing of its text and little else.
class record_metadata_writer {
 public:
  record_metadata_writer(const document& doc, const record_provenance* provenance);
  std::string render(const chunk& c) const;

 private:
  std::string shared_;             // the shared fields, each `"key":value`, sorted, joined by commas
  std::vector<std::size_t> ends_;  // where each of them ends in shared_
  // How many shared fields sort before each of the chunk's own keys (text hash, chunk, text).
  std::size_t before_text_hash_ = 0, before_chunk_ = 0, before_text_ = 0;
  bool text_hash_ = false;  // with provenance: the chunk carries its text hash
};

// The metadata keys of the provenance.
inline constexpr std::string_view doc_hash_key = "backfill_doc_hash";
inline constexpr std::string_view text_hash_key = "backfill_text_hash";
inline constexpr std::string_view embedder_key = "backfill_embedder";
inline constexpr std::string_view source_kind_key = "backfill_source";
inline constexpr std::string_view chunk_count_key = "backfill_chunks";

// The hash of the chunk text a record read back from the sink was embedded from, when its metadata
// says `embedder_identity` embedded it ("" otherwise, or when the metadata cannot be read): the
// record's vector can stand for that text's (restore, and the writer in place of a heal copy).
std::string reusable_text_hash(std::string_view metadata_json, std::string_view embedder_identity);

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
  // Records built from now on carry their provenance (record_metadata) for this embedder.
  void carry_provenance(std::string embedder_identity, std::string source_kind) {
    embedder_ = std::move(embedder_identity);
    source_kind_ = std::move(source_kind);
  }

 private:
  chunker_options chunking_;
  std::size_t metadata_limit_;
  sanitize_options sanitize_;
  id_fitter fit_id_;
  std::string embedder_;  // empty: no provenance
  std::string source_kind_;
};

}  // namespace backfill
