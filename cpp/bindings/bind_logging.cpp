// Core log records are queued (bounded, never blocking the core) and forwarded to
// logging.getLogger("backfill") from the thread that holds the GIL: at every tick of a long call and
// when the call returns. Records that arrive while the queue is full are counted and reported.
#include <algorithm>
#include <deque>
#include <mutex>
#include <string>
#include <utility>

#include "backfill/core/log.hpp"
#include "bindings.hpp"

namespace backfill::python {
namespace {

struct log_queue {
  std::mutex mutex;
  std::deque<std::pair<int, std::string>> records;
  std::size_t dropped = 0;
  static constexpr std::size_t capacity = 10000;
};

log_queue& queue() {
  static log_queue* q = new log_queue();  // never destroyed: core threads may log during shutdown
  return *q;
}

// spdlog's levels (0 trace .. 5 critical) and Python's (5 trace, 10 debug .. 50 critical).
int python_level(int spd) { return spd <= 0 ? 5 : std::min(spd, 5) * 10; }
int spdlog_level(int python) { return python <= 5 ? 0 : std::min(5, (python + 9) / 10); }

}  // namespace

void drain_logs() {
  std::deque<std::pair<int, std::string>> records;
  std::size_t dropped = 0;
  {
    auto& q = queue();
    std::lock_guard<std::mutex> lock(q.mutex);
    records.swap(q.records);
    std::swap(dropped, q.dropped);
  }
  if (records.empty() && dropped == 0) return;
  py::object log = py::module_::import("logging").attr("getLogger")("backfill");
  for (auto& [level, message] : records) {
    log.attr("log")(python_level(level), "%s", utf8(message));
  }
  if (dropped) log.attr("warning")("%d core log records were dropped (the log queue was full)", dropped);
}

void register_logging(py::module_& m) {
  set_log_function([](int level, const std::string& message) {
    auto& q = queue();
    std::lock_guard<std::mutex> lock(q.mutex);
    if (q.records.size() >= log_queue::capacity) {
      ++q.dropped;
      return;
    }
    q.records.emplace_back(level, message);
  });
  m.def("drain_logs", &drain_logs, "Forward queued core log records to logging.getLogger('backfill').");
  m.def(
      "set_log_level", [](int level) { set_log_level(spdlog_level(level)); }, py::arg("level"),
      "Set the core's log level from a Python logging level.");
}

}  // namespace backfill::python
