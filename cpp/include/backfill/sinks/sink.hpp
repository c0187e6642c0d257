// Sinks: the vector index the backfill writes to.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "backfill/core/document.hpp"
#include "backfill/core/fields.hpp"

namespace backfill {

class preflight_checks;  // preflight/checks.hpp
class run_context;

struct sink_stats {
  std::int64_t count = 0;  // records in the sink's namespace
  int dimension = 0;       // 0 when the index is empty and has no fixed dimension
};
BACKFILL_FIELDS(sink_stats, &s::count, &s::dimension)

// A sink is used by one thread at a time; the pipeline serializes its calls.
class sink {
 public:
  virtual ~sink() = default;
  virtual std::string kind() const = 0;
  // Identity used to key the ledger: kind, location and namespace; never a credential.
  virtual std::string identity() const = 0;
  virtual std::string describe() const = 0;

  // True when stats() may lag behind acknowledged writes (eventually consistent indexes); verify then
  // polls the count until it matches or stops changing.
  virtual bool count_lags() const { return false; }
  // The most bytes of metadata one record may carry (0 = no limit): the pipeline sanitizes to fit.
  virtual std::size_t metadata_limit() const { return 0; }
  // The id this sink stores for `id`: the same id when the sink takes it as it is, else a deterministic
  // stand-in (see backfill::fit_id). The pipeline records and verifies the fitted id.
  virtual std::string fit_record_id(std::string_view id) const { return std::string(id); }
  // Facts for the receipt (e.g. the last write's LSN); never a credential.
  virtual std::map<std::string, std::string> receipt_info() const { return {}; }
  // Records of the last upsert() that the sink refused to send (too large even alone).
  virtual std::vector<std::string> take_unsendable() { return {}; }
  // Why a record like `probe` (the embedder's dimension, the least metadata backfill writes) could
  // never be sent under this sink's settings, naming the setting to change; "" when it can. Asked
  // once before an ingest, which refuses to start on an answer rather than leave every record unsent.
  virtual std::string unsendable_reason(const record& probe) const {
    (void)probe;
    return {};
  }
  // Largest number of records one upsert may carry.
  virtual std::size_t max_batch() const { return 1000; }
  // True when upsert() may run on several threads at once (an exception to the rule above), so a
  // caller with many records can keep more than one batch in flight.
  virtual bool concurrent_upserts() const { return false; }
  // Writes records; returns how many the sink acknowledged. The caller treats a short count as loss.
  virtual std::int64_t upsert(const std::vector<record>& records) = 0;
  // Returns the records that exist among `ids` (absent ids are simply missing from the result), in
  // any order, each with its metadata exactly as stored (verify hashes it) and its vector (a workdir
  // restored from the sink reuses it instead of embedding again; an empty vector is allowed and only
  // costs that reuse).
  virtual std::vector<fetched_record> fetch(const std::vector<std::string>& ids) = 0;
  virtual void remove(const std::vector<std::string>& ids) = 0;
  // Ids starting with `prefix`, in bytewise order, at most `limit` after `after` ("" = from the start).
  // Every id of the namespace must be reachable by paging with `after` (a workdir that was lost is
  // rebuilt from this listing: pipeline/restore.hpp). A sink that cannot list throws sink_error
  // naming why: the pipeline then says so and writes every document again.
  virtual std::vector<std::string> list(std::string_view prefix, std::string_view after,
                                        std::size_t limit) = 0;
  virtual sink_stats stats() = 0;
  virtual std::vector<query_match> query(const std::vector<float>& vector, std::size_t top_k) = 0;
  // Adds the checks that prove the sink's settings work before a run writes anything. By default:
  // stats() answers and the vectors it holds have the embedder's `dimension`
  // (preflight/sink_checks.cpp).
  virtual void preflight(preflight_checks& out, int dimension, run_context& ctx);
};

}  // namespace backfill
