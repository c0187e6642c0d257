// A sink made of functions: the index lives outside the core (the Python binding wraps a
// backfill.PythonSink's callables into these hooks; tests pass lambdas). It gets the verification and
// receipts every sink gets: verify reads the records back through `fetch` and counts through `stats`.
#pragma once

#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "backfill/core/fields.hpp"
#include "backfill/sinks/sink.hpp"

namespace backfill {

// What each hook throws leaves the sink as it is. Calls come from one thread at a time.
struct callback_sink_hooks {
  std::function<std::int64_t(const std::vector<record>&)> upsert;  // returns the count written
  std::function<std::vector<fetched_record>(const std::vector<std::string>& ids)> fetch;
  std::function<void(const std::vector<std::string>& ids)> remove;
  // Ids starting with `prefix`, after `after`, at most `limit`; callback_sink sorts them.
  std::function<std::vector<std::string>(std::string_view prefix, std::string_view after, std::size_t limit)>
      list;
  std::function<sink_stats()> stats;
  // Optional: without it, query() throws sink_error.
  std::function<std::vector<query_match>(const std::vector<float>& vector, std::size_t top_k)> query;
};
BACKFILL_FIELDS(callback_sink_hooks, &s::upsert, &s::fetch, &s::remove, &s::list, &s::stats, &s::query)

struct callback_sink_options {
  std::string kind;  // "python": the identity is "<kind>:<name>"
  std::string name;  // the index: the ledger is keyed by the identity, so two indexes need two names
  std::string who;   // how errors name it: "the Python sink my-index"
  std::string description;
  std::size_t batch_size = 1000;   // records per upsert
  std::size_t metadata_limit = 0;  // bytes of metadata per record (0: no limit)
};

class callback_sink final : public sink {
 public:
  // Throws config_error when a hook other than query is missing or batch_size is 0.
  callback_sink(callback_sink_hooks hooks, callback_sink_options options);

  std::string kind() const override { return options_.kind; }
  std::string identity() const override { return options_.kind + ":" + options_.name; }
  std::string describe() const override { return options_.description; }
  std::size_t metadata_limit() const override { return options_.metadata_limit; }
  std::size_t max_batch() const override { return options_.batch_size; }
  std::int64_t upsert(const std::vector<record>& records) override { return hooks_.upsert(records); }
  std::vector<fetched_record> fetch(const std::vector<std::string>& ids) override {
    return hooks_.fetch(ids);
  }
  void remove(const std::vector<std::string>& ids) override { hooks_.remove(ids); }
  // The hook's ids in bytewise order, at most `limit` of them.
  std::vector<std::string> list(std::string_view prefix, std::string_view after, std::size_t limit) override;
  sink_stats stats() override { return hooks_.stats(); }
  std::vector<query_match> query(const std::vector<float>& vector, std::size_t top_k) override;
  // Its hooks are not called before the run: the check is listed as skipped.
  void preflight(preflight_checks& out, int dimension, run_context& ctx) override;

 private:
  callback_sink_hooks hooks_;
  callback_sink_options options_;
};

}  // namespace backfill
