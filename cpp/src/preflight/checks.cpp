#include "backfill/preflight/checks.hpp"

#include <chrono>
#include <exception>

#include "backfill/core/errors.hpp"

namespace backfill {

void preflight_checks::run(const std::string& component, const std::string& name, const std::string& fix,
                           const probe_fn& probe) {
  check_result r{component, name, "ok", {}, {}, 0};
  const auto start = std::chrono::steady_clock::now();
  try {
    check_outcome o = probe();
    r.status = std::move(o.status);
    r.verdict = std::move(o.verdict);
    r.fix = std::move(o.fix);
  } catch (const cancelled&) {
    throw;  // Ctrl-C stops the checks as it stops a phase
  } catch (const std::exception& e) {
    if (before_run_) throw;
    r.status = "failed";
    r.verdict = e.what();
    r.fix = fix;
    // An error that ends with the fix (so that a run stopped by it says what to do) says it once here.
    const std::string tail = "; " + fix;
    if (r.verdict.size() > tail.size() &&
        r.verdict.compare(r.verdict.size() - tail.size(), tail.size(), tail) == 0)
      r.verdict.resize(r.verdict.size() - tail.size());
  }
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  results_.push_back(std::move(r));
}

void preflight_checks::skip(const std::string& component, const std::string& name, const std::string& why) {
  results_.push_back(check_result{component, name, "skipped", why, {}, 0});
}

bool preflight_checks::failed() const noexcept {
  for (const auto& r : results_)
    if (r.status == "failed") return true;
  return false;
}

}  // namespace backfill
