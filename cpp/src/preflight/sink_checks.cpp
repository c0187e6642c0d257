// The check every sink has unless it brings its own: its stats answer, in the embedder's dimension.
#include <fmt/format.h>

#include "backfill/preflight/preflight.hpp"
#include "backfill/sinks/sink.hpp"

namespace backfill {

void check_sink_dimension(sink& snk, int dimension, preflight_checks& out) {
  out.run("sink", "index", "check the [sink] settings", [&] {
    const sink_stats s = snk.stats();
    check_outcome o;
    o.verdict = fmt::format("{} answers: {} records", snk.describe(), s.count);
    if (s.dimension != 0) o.verdict += fmt::format(" of dimension {}", s.dimension);
    if (s.dimension != 0 && s.dimension != dimension) {
      o.status = "failed";
      o.verdict += fmt::format(", but the embedder makes vectors of dimension {}", dimension);
      o.fix = fmt::format("set embedder.dimension = {} (models that allow it), or use a sink of dimension {}",
                          s.dimension, dimension);
    }
    return o;
  });
}

void sink::preflight(preflight_checks& out, int dimension, run_context& ctx) {
  (void)ctx;
  check_sink_dimension(*this, dimension, out);
}

}  // namespace backfill
