// Shared declarations of the binding layer: the only code that includes pybind11.
#pragma once

#include <pybind11/pybind11.h>

#include <functional>
#include <string>
#include <vector>

#include "backfill/core/context.hpp"
#include "backfill/core/document.hpp"
#include "backfill/core/errors.hpp"

namespace backfill::http {
struct client_stats;
}

namespace backfill::python {

namespace py = pybind11;

void register_errors(py::module_& m);
void register_logging(py::module_& m);
void register_components(py::module_& m);
void register_python_embedder(py::module_& m);
void register_python_adapters(py::module_& m);
void register_pipeline(py::module_& m);
// Test-only: registered into the backfill._core._testing submodule.
void register_http(py::module_& testing);
void register_testing(py::module_& testing);

// A C++ struct as a Python class whose attributes are its fields. Options are read-write, built
// from keyword arguments over the struct's defaults (an unknown name raises AttributeError), so a
// default instance is where Python reads every default from. Reports are read-only.
template <class T, class V>
struct field_ref {
  const char* name;
  V T::*member;
};
template <class T, class V>
field_ref<T, V> field(const char* name, V T::*member) {
  return {name, member};
}
// FIELD(S, member): the member of struct S, bound under its own name.
#define FIELD(S, member) ::backfill::python::field(#member, &S::member)

template <class T>
T options_from(const py::kwargs& kw) {
  py::object o = py::cast(T{});
  for (auto item : kw) py::setattr(o, item.first, item.second);
  return o.cast<T>();
}
template <class T, class... V>
py::class_<T> bind_options(py::module_& m, const char* name, field_ref<T, V>... fields) {
  py::class_<T> c(m, name);
  c.def(py::init(&options_from<T>));
  (c.def_readwrite(fields.name, fields.member), ...);
  return c;
}
template <class T, class... V>
py::class_<T> bind_report(py::module_& m, const char* name, field_ref<T, V>... fields) {
  py::class_<T> c(m, name);
  (c.def_readonly(fields.name, fields.member), ...);
  return c;
}

// Query matches as [{"id", "score", "metadata"}], the shape Sink.query and Pipeline.query return.
py::list matches_to_list(const std::vector<query_match>& matches);

// An HTTP engine's counters as {"requests", "attempts", "retries", "failures", "bytes_received", "max_in_flight"}.
py::dict stats_dict(const http::client_stats& s);

// A Python str of UTF-8 text, invalid bytes replaced (never a UnicodeDecodeError).
py::object utf8(const std::string& s);

// The backfill.errors twin of a core error, its attributes and cause set.
py::object error_object(const error& e);
// The names of the Python twins of `e`'s class and of every class above it, most derived first.
std::vector<std::string> python_lineage(const error& e);

// Forwards queued core log records to logging.getLogger("backfill"). Needs the GIL.
void drain_logs();

// f() with the GIL released, for a short call (no ticks: see run_released for long work).
template <class F>
auto released(F&& f) {
  py::gil_scoped_release nogil;
  return f();
}

// Runs `work` with the GIL released. The core ticks (at most every 50 ms) reacquire the GIL to
// forward logs, check for Ctrl-C and a cancel event, and report progress. A pending KeyboardInterrupt
// is re-raised as itself once the core has unwound.
void run_released(const std::function<void(run_context&)>& work, py::object progress, py::object cancel);

}  // namespace backfill::python
