#include "backfill/core/context.hpp"

#include "backfill/core/errors.hpp"

namespace backfill {

void run_context::checkpoint() {
  if (stop_requested()) throw cancelled();
  if (!tick_) return;
  auto now = std::chrono::steady_clock::now();
  if (now - last_ < interval_) return;
  last_ = now;
  if (tick_(progress_)) request_stop();
  if (stop_requested()) throw cancelled();
}

void run_context::checkpoint_now() {
  last_ = {};
  checkpoint();
}

void run_context::begin_phase(std::string phase, std::string unit, std::int64_t total) {
  if (!progress_.phase.empty() && progress_.phase != phase) checkpoint_now();  // where the last one ended
  progress_.phase = std::move(phase);
  progress_.unit = std::move(unit);
  progress_.total = total;
  progress_.done = 0;
  progress_.partition.clear();
  checkpoint_now();
}

}  // namespace backfill
