#include "backfill/core/context.hpp"

#include "backfill/core/errors.hpp"
#include "backfill/core/log.hpp"
#include "backfill/core/progress_board.hpp"

namespace backfill {

run_context::~run_context() { progress_board::forget(this); }

void run_context::checkpoint() {
  if (stop_requested()) throw cancelled();
  if (!tick_) return;
  auto now = std::chrono::steady_clock::now();
  if (now - last_ < interval_) return;
  last_ = now;
  progress_board::post(progress_, now, this);
  progress_.quota = progress_board::binding(now);
  try {
    if (tick_(progress_)) request_stop();
  } catch (...) {
    tick_error_ = std::current_exception();
    request_stop();
  }
  if (stop_requested()) throw cancelled();
}

void run_context::checkpoint_now() {
  last_ = {};
  checkpoint();
}

void run_context::begin_phase(std::string phase, std::string unit, std::int64_t total, std::int64_t done) {
  // Where the last one ended: another phase, or another pass of this one (another unit).
  if (!progress_.phase.empty() && (progress_.phase != phase || progress_.unit != unit)) checkpoint_now();
  progress_.phase = std::move(phase);
  progress_.unit = std::move(unit);
  progress_.total = total;
  progress_.done = done;
  progress_.partition.clear();
  checkpoint_now();
}

void run_context::wait_while_ahead() {
  if (!pace_.wait) return;
  while (ahead()) {
    pace_.wait();
    checkpoint();
  }
}

void run_context::warn(std::string_view kind, const std::string& message) {
  std::lock_guard lock(warn_mu_);
  ++warnings_;
  if (warned_kinds_.size() >= max_warning_kinds || warned_kinds_.count(kind)) return;
  warned_kinds_.emplace(kind);
  warning_examples_.push_back(message);
  logger()->warn("{}", message);
}

std::int64_t run_context::warnings() const {
  std::lock_guard lock(warn_mu_);
  return warnings_;
}

std::vector<std::string> run_context::warning_examples() const {
  std::lock_guard lock(warn_mu_);
  return warning_examples_;
}

}  // namespace backfill
