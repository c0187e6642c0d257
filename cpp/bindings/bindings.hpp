// Shared declarations of the binding layer: the only code that includes pybind11.
#pragma once

#include <pybind11/pybind11.h>

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <tuple>
#include <vector>

#include "backfill/core/context.hpp"
#include "backfill/core/document.hpp"
#include "backfill/core/errors.hpp"
#include "backfill/sinks/sink.hpp"
#include "backfill/sources/callback/callback_source.hpp"

namespace backfill::http {
struct client_stats;
}

// Core structs the adapters of Python code (bind_python_adapters.cpp) exchange as tuples of their
// fields, in order. Declared here so that every binding file sees the same casters.
namespace pybind11::detail {
template <class T, class... F>
struct fields_caster {
  PYBIND11_TYPE_CASTER(T, const_name("tuple"));
  bool load(handle src, bool convert) {
    make_caster<std::tuple<F...>> fields;
    if (!fields.load(src, convert)) return false;
    value = std::make_from_tuple<T>(cast_op<std::tuple<F...>&&>(std::move(fields)));
    return true;
  }
  static handle cast(const T& v, return_value_policy, handle) {
    const auto& [a, b, c] = v;  // record: the one that goes to Python
    return pybind11::make_tuple(a, b, c).release();
  }
};
template <>
struct type_caster<backfill::record>
    : fields_caster<backfill::record, std::string, std::vector<float>, std::string> {};
template <>
struct type_caster<backfill::fetched_record>
    : fields_caster<backfill::fetched_record, std::string, std::vector<float>, std::string> {};
template <>
struct type_caster<backfill::query_match>
    : fields_caster<backfill::query_match, std::string, double, std::string> {};
template <>
struct type_caster<backfill::sink_stats> : fields_caster<backfill::sink_stats, std::int64_t, int> {};
template <>
struct type_caster<backfill::callback_page>
    : fields_caster<backfill::callback_page, std::string, std::int64_t, std::string, std::string> {};
}  // namespace pybind11::detail

namespace backfill::python {

namespace py = pybind11;

void register_errors(py::module_& m);
void register_logging(py::module_& m);
void register_components(py::module_& m);
void register_python_adapters(py::module_& m);
void register_pipeline(py::module_& m);
void register_preflight(py::module_& m);
// Test-only: registered into the backfill._core._testing submodule.
void register_http(py::module_& testing);
void register_testing(py::module_& testing);

// A struct whose fields are listed beside it (core/fields.hpp) as a Python class with those fields
// as attributes. Options are read-write, built from keyword arguments over the struct's defaults (an
// unknown name raises AttributeError), so a default instance is where Python reads every default
// from. Reports are read-only.
template <class T>
T options_from(const py::kwargs& kw) {
  py::object o = py::cast(T{});
  for (auto item : kw) py::setattr(o, item.first, item.second);
  return o.cast<T>();
}
template <class T>
py::class_<T> bind_options(py::module_& m, const char* name) {
  py::class_<T> c(m, name);
  c.def(py::init(&options_from<T>));
  fields_of(static_cast<const T*>(nullptr)).each([&](std::string_view field, auto member) {
    c.def_readwrite(std::string(field).c_str(), member);
  });
  return c;
}
template <class T>
py::class_<T> bind_report(py::module_& m, const char* name) {
  py::class_<T> c(m, name);
  fields_of(static_cast<const T*>(nullptr)).each([&](std::string_view field, auto member) {
    c.def_readonly(std::string(field).c_str(), member);
  });
  return c;
}

// bind_report<T>(m, name) for each report type and name, paired in order.
template <class... T, class... Name>
void bind_reports(py::module_& m, Name... names) {
  static_assert(sizeof...(T) == sizeof...(Name), "one name per report");
  (bind_report<T>(m, names), ...);
}

// The records of a list of record dicts (records.cpp; large lists are read on helper threads too).
std::vector<record> records_from_python(const py::handle& records);
// sink.upsert(records) of a list of record dicts: converting slices overlaps with sending the previous
// ones. Raises the first error of either.
std::int64_t upsert_from_python(sink& target, const py::list& records);

// Query matches as [{"id", "score", "metadata"}], the shape Sink.query and Pipeline.query return.
py::list matches_to_list(const std::vector<query_match>& matches);

// An HTTP engine's counters as {"requests", "attempts", "retries", "failures", "bytes_received",
// "max_in_flight"}.
py::dict stats_dict(const http::client_stats& s);

// A Python str of UTF-8 text, invalid bytes replaced (never a UnicodeDecodeError).
py::object utf8(const std::string& s);

// The backfill.errors twin of a core error, its attributes and cause set.
py::object error_object(const error& e);

// Forwards queued core log records to logging.getLogger("backfill"). Needs the GIL.
void drain_logs();

// A method run with the GIL released (.def(..., release_gil())), its arguments and result converted holding
// it.
using release_gil = py::call_guard<py::gil_scoped_release>;

// f() with the GIL released, for a short call (no ticks: see run_released for long work); the core's
// logs are forwarded once it returns.
template <class F>
auto released(F&& f) {
  auto r = [&] {
    py::gil_scoped_release nogil;
    return f();
  }();
  drain_logs();
  return r;
}

// Runs `work` with the GIL released. The core ticks (at most every 50 ms) reacquire the GIL to
// forward logs, check for Ctrl-C and a cancel event, and report progress. A pending KeyboardInterrupt
// is re-raised as itself once the core has unwound.
void run_released(const std::function<void(run_context&)>& work, py::object progress, py::object cancel);

}  // namespace backfill::python
