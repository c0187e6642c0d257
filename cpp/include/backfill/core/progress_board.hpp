// The process-wide board where the phase that runs posts its progress and a throttled client posts the
// quota that holds it back, so each can quote the other: a wait's INFO line says how far the phase is
// ("62 % done, ETA 41 s") and the progress (bars, log lines) names the quota that binds. The core's
// layers meet here: http (the quotas) and the pipeline's run_context know nothing of each other.
// Thread-safe.
#pragma once

#include <chrono>
#include <optional>
#include <string>

#include "backfill/core/context.hpp"

namespace backfill::progress_board {

using clock = std::chrono::steady_clock;

// A run_context (`owner`) posts its progress at a tick. A phase's rate counts from its first post.
void post(const progress& p, clock::time_point now, const void* owner);
// The run_context `owner` ends: its progress leaves the board (when it is still the latest there).
void forget(const void* owner);

// How far the phase posted last is (nothing when its total is not known): its share done (0..1) and
// the seconds left at its rate so far (-1 until it has one).
struct eta {
  std::string phase;
  double share = 0;
  double seconds = -1;
};
std::optional<eta> estimate(clock::time_point now);

// A quota ("openai tokens") holds requests back until `until`.
void post_wait(const std::string& quota, clock::time_point until);
// The quota that holds requests back at `now`, or "" when none does.
std::string binding(clock::time_point now);

}  // namespace backfill::progress_board
