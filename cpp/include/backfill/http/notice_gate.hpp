// The rate limit of the lines a person reads about waits: at most one line every 10 s; the lines held
// back in between are counted, so the next one can say how many. Not thread-safe: its owner locks.
#pragma once

#include <chrono>
#include <utility>

namespace backfill::http {

struct notice_gate {
  static constexpr auto interval = std::chrono::seconds(10);
  std::chrono::steady_clock::time_point last{};  // of the last line logged
  int skipped = 0;                               // lines held back since

  // Whether a line may be logged at `now` (then it counts as logged), else one more held back.
  bool due(std::chrono::steady_clock::time_point now) {
    if (last != std::chrono::steady_clock::time_point{} && now - last < interval) {
      ++skipped;
      return false;
    }
    last = now;
    return true;
  }
  // The lines held back since the last one logged, and none from now on.
  int take_skipped() { return std::exchange(skipped, 0); }
};

}  // namespace backfill::http
