// Shared declarations of the binding layer: the only code that includes pybind11.
#pragma once

#include <pybind11/pybind11.h>

#include <functional>
#include <vector>

#include "backfill/core/context.hpp"
#include "backfill/core/document.hpp"

namespace backfill::python {

namespace py = pybind11;

void register_errors(py::module_& m);
void register_logging(py::module_& m);
void register_components(py::module_& m);
void register_python_embedder(py::module_& m);
void register_python_adapters(py::module_& m);
void register_pipeline(py::module_& m);
void register_http(py::module_& m);

// Query matches as [{"id", "score", "metadata"}], the shape Sink.query and Pipeline.query return.
py::list matches_to_list(const std::vector<query_match>& matches);

// backfill.errors.HttpError for a core http_error, with its attributes set.
py::object http_error_object(const std::exception& e);

// Forwards queued core log records to logging.getLogger("backfill"). Needs the GIL.
void drain_logs();

// Runs `work` with the GIL released. The core ticks (at most every 50 ms) reacquire the GIL to
// forward logs, check for Ctrl-C and a cancel event, and report progress. A pending KeyboardInterrupt
// is re-raised as itself once the core has unwound.
void run_released(const std::function<void(run_context&)>& work, py::object progress, py::object cancel);

}  // namespace backfill::python
