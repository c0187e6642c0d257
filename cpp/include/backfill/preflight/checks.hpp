// Preflight: cheap requests that prove a run's settings work before it spends anything (an
// embedding, a fetch beyond two pages, an upsert). Each source, embedder and sink adds the checks
// of its own service (the contracts' preflight hooks); preflight() (preflight.hpp) runs them in an
// order that keeps the one that costs money (an embedding of one input) last.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "backfill/core/fields.hpp"

namespace backfill {

// One check: what it looked at, whether it passed, a one-line verdict and, when it did not, the fix.
struct check_result {
  std::string component;  // "source", "embedder", "sink", "workdir"
  std::string name;       // "credentials", "dimension", "transport", "pagination", "disk", ...
  std::string status;     // "ok", "warning", "failed" or "skipped"
  std::string verdict;    // what was found, one line, no credential
  std::string fix;        // what to change ("" when nothing needs to)
  double seconds = 0;
};
BACKFILL_FIELDS(check_result, &s::component, &s::name, &s::status, &s::verdict, &s::fix, &s::seconds)

struct preflight_report {
  std::vector<check_result> checks;
  bool ok = true;  // no check failed
  double seconds = 0;
};
BACKFILL_FIELDS(preflight_report, &s::checks, &s::ok, &s::seconds)

// What a probe hands back when it did not throw.
struct check_outcome {
  std::string status = "ok";
  std::string verdict;
  std::string fix;
};

// The checks of one run, collected as the components add them.
class preflight_checks {
 public:
  using probe_fn = std::function<check_outcome()>;
  // `before_run`: the checks a run performs first. A probe's exception then leaves run() as it is
  // (the run stops with the error it would itself have met, naming the setting at fault), and the
  // probes that would fetch items are left to the run's own fetch (preflight.hpp).
  explicit preflight_checks(bool before_run = false) : before_run_(before_run) {}
  bool before_run() const noexcept { return before_run_; }
  void run(const std::string& component, const std::string& name, const std::string& fix,
           const probe_fn& probe);
  void skip(const std::string& component, const std::string& name, const std::string& why);
  bool failed() const noexcept;
  std::vector<check_result>& results() noexcept { return results_; }

 private:
  bool before_run_;
  std::vector<check_result> results_;
};

}  // namespace backfill
