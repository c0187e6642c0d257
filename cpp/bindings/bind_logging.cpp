// Core log records are queued (core/log_queue.hpp) and forwarded to logging.getLogger("backfill")
// from the thread that holds the GIL: at every tick of a long call and when the call returns.
#include <algorithm>

#include "backfill/core/log.hpp"
#include "backfill/core/log_queue.hpp"
#include "bindings.hpp"

namespace backfill::python {
namespace {

// spdlog's levels (0 trace .. 5 critical) and Python's (5 trace, 10 debug .. 50 critical).
int python_level(int spd) { return spd <= 0 ? 5 : std::min(spd, 5) * 10; }
int spdlog_level(int python) { return python <= 5 ? 0 : std::min(5, (python + 9) / 10); }

}  // namespace

void drain_logs() {
  log_queue::batch b = log_queue::capture().take();
  if (b.records.empty() && b.dropped == 0) return;
  py::object log = py::module_::import("logging").attr("getLogger")("backfill");
  for (auto& [level, message] : b.records) log.attr("log")(python_level(level), "%s", utf8(message));
  if (b.dropped) log.attr("warning")("%d core log records were dropped (the log queue was full)", b.dropped);
}

void register_logging(py::module_& m) {
  log_queue::capture();
  m.def("drain_logs", &drain_logs, "Forward queued core log records to logging.getLogger('backfill').");
  m.def(
      "set_log_level", [](int level) { set_log_level(spdlog_level(level)); }, py::arg("level"),
      "Set the core's log level from a Python logging level.");
}

}  // namespace backfill::python
