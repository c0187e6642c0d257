#include "backfill/sinks/callback/callback_sink.hpp"

#include <algorithm>

#include "backfill/core/errors.hpp"
#include "backfill/preflight/checks.hpp"

namespace backfill {

callback_sink::callback_sink(callback_sink_hooks hooks, callback_sink_options options)
    : hooks_(std::move(hooks)), options_(std::move(options)) {
  if (!hooks_.upsert || !hooks_.fetch || !hooks_.remove || !hooks_.list || !hooks_.stats)
    throw config_error(options_.who + " needs upsert, fetch, delete, list and stats functions");
  if (options_.batch_size < 1) throw config_error(options_.who + ": batch_size must be at least 1");
}

std::vector<std::string> callback_sink::list(std::string_view prefix, std::string_view after,
                                             std::size_t limit) {
  std::vector<std::string> ids = hooks_.list(prefix, after, limit);
  std::sort(ids.begin(), ids.end());
  if (ids.size() > limit) ids.resize(limit);
  return ids;
}

std::vector<query_match> callback_sink::query(const std::vector<float>& vector, std::size_t top_k) {
  if (!hooks_.query) throw sink_error(options_.who + " has no query function to search it with");
  return hooks_.query(vector, top_k);
}

void callback_sink::preflight(preflight_checks& out, int dimension, run_context& ctx) {
  (void)dimension;
  (void)ctx;
  out.skip("sink", "index", options_.who + ": a sink of functions, not called before the run");
}

}  // namespace backfill
