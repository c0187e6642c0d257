// Shared declarations of the binding layer: the only code that includes pybind11.
#pragma once

#include <pybind11/pybind11.h>

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <tuple>
#include <type_traits>
#include <vector>

#include "backfill/core/context.hpp"
#include "backfill/core/document.hpp"
#include "backfill/core/errors.hpp"
#include "backfill/sinks/sink.hpp"
#include "backfill/sources/callback/callback_source.hpp"

// Core structs the adapters of Python code (bind_python_adapters.cpp) exchange as tuples of their
// fields (core/fields.hpp), in order. Declared here so that every binding file sees the same casters.
namespace pybind11::detail {
template <class T>
constexpr bool tuple_struct =
    std::is_same_v<T, backfill::record> || std::is_same_v<T, backfill::fetched_record> ||
    std::is_same_v<T, backfill::query_match> || std::is_same_v<T, backfill::sink_stats> ||
    std::is_same_v<T, backfill::callback_page>;
template <class C, class... V>
std::tuple<V...> tuple_of(const backfill::field_list<V C::*...>&);
template <class T>
struct type_caster<T, std::enable_if_t<tuple_struct<T>>> {
  using fields = decltype(tuple_of(fields_of(static_cast<const T*>(nullptr))));
  PYBIND11_TYPE_CASTER(T, const_name("tuple"));
  bool load(handle src, bool convert) {
    make_caster<fields> items;
    if (!items.load(src, convert)) return false;
    value = std::make_from_tuple<T>(cast_op<fields&&>(std::move(items)));
    return true;
  }
  static handle cast(const T& v, return_value_policy, handle) {
    list items;
    fields_of(&v).each([&](std::string_view, auto member) { items.append(pybind11::cast(v.*member)); });
    return tuple(std::move(items)).release();
  }
};
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
// from (bind_struct<T, true>). Reports are read-only (bind_struct<T>).
template <class T>
T options_from(const py::kwargs& kw) {
  py::object o = py::cast(T{});
  for (auto item : kw) py::setattr(o, item.first, item.second);
  return o.cast<T>();
}
template <class T, bool options = false>
py::class_<T> bind_struct(py::module_& m, const char* name) {
  py::class_<T> c(m, name);
  if constexpr (options) c.def(py::init(&options_from<T>));
  fields_of(static_cast<const T*>(nullptr)).each([&](std::string_view field, auto member) {
    if constexpr (options)
      c.def_readwrite(std::string(field).c_str(), member);
    else
      c.def_readonly(std::string(field).c_str(), member);
  });
  return c;
}

// bind_struct<T, options>(m, name) for each type and name, paired in order.
template <bool options, class... T, class... Name>
void bind_structs(py::module_& m, Name... names) {
  static_assert(sizeof...(T) == sizeof...(Name), "one name per struct");
  (bind_struct<T, options>(m, names), ...);
}

// The records of a list of record dicts (records.cpp; large lists are read on helper threads too).
std::vector<record> records_from_python(const py::handle& records);
// A C-contiguous float32 buffer's items, copied; false for any other object.
bool float32_buffer(PyObject* obj, std::vector<float>& out);
// sink.upsert(records) of a list of record dicts: converting slices overlaps with sending the previous
// ones. Raises the first error of either.
std::int64_t upsert_from_python(sink& target, const py::list& records);

// A struct whose fields are listed beside it as a dict, field name -> value; a field `x_json` (JSON
// text, as a record's metadata) becomes "x", parsed. fields_dicts: a list of them.
template <class T>
py::dict fields_dict(const T& v) {
  py::dict d;
  fields_of(&v).each([&](std::string_view field, auto member) {
    if constexpr (std::is_same_v<std::decay_t<decltype(v.*member)>, std::string>)
      if (field.ends_with("_json")) {
        d[py::str(field.substr(0, field.size() - 5))] = py::module_::import("json").attr("loads")(v.*member);
        return;
      }
    d[py::str(field)] = py::cast(v.*member);
  });
  return d;
}
template <class T>
py::list fields_dicts(const std::vector<T>& items) {
  py::list out;
  for (const T& item : items) out.append(fields_dict(item));
  return out;
}

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
