// Calling Python from the core's threads: the one way the adapters of user code (PythonEmbedder,
// PythonSource, PythonSink) do it. How errors cross is in docs/architecture.md ("Calling Python").
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <type_traits>

#include <fmt/format.h>

#include "backfill/core/errors.hpp"
#include "bindings.hpp"

namespace backfill::python {

// A Python object the core may hold and drop on any thread: it is released under the GIL.
using shared_object = std::shared_ptr<py::object>;
shared_object share(py::object o);
bool is_backfill_error(const py::object& exc);
std::string type_name(const py::object& value);

// What a core error carries from Python, to be raised again at the boundary.
class python_exception {
 public:
  explicit python_exception(py::object exc) : exc_(share(std::move(exc))) {}
  // Sets it as the pending Python error. Needs the GIL.
  void restore() const;

 private:
  shared_object exc_;
};

template <class Error>
class python_error final : public Error, public python_exception {
 public:
  python_error(const std::string& what, py::object exc) : Error(what), python_exception(std::move(exc)) {}
};

class python_interrupt final : public cancelled, public python_exception {
 public:
  using python_exception::python_exception;
};

// The exception to raise for `e` (raised by `who`): e's own if it is a backfill error or not an
// Exception; else the Python twin of a core Error naming `who`, caused by it. Needs the GIL.
template <class Error>
py::object raised_by(const py::error_already_set& e, std::string_view who) {
  py::object value = e.value();
  if (!e.matches(PyExc_Exception) || is_backfill_error(value)) return value;
  py::object wrapped = error_object(
      Error(fmt::format("{} raised {}: {}", who, type_name(value), py::str(value).cast<std::string>())));
  wrapped.attr("__cause__") = value;
  return wrapped;
}

// Runs `f` (which calls Python and converts the result) holding the GIL; see above for errors.
// `who` names the callable for messages ("the Python embedder all-MiniLM-L6-v2").
template <class Error, class F>
auto call_python(std::string_view who, F&& f) -> decltype(f()) {
  py::gil_scoped_acquire gil;
  try {
    return f();
  } catch (py::error_already_set& e) {
    py::object exc = raised_by<Error>(e, who);
    if (!e.matches(PyExc_Exception)) throw python_interrupt(std::move(exc));
    throw python_error<Error>(py::str(exc).cast<std::string>(), std::move(exc));
  } catch (const py::cast_error& e) {
    throw Error(fmt::format("{} returned a value of the wrong type: {}", who, e.what()));
  }
}

// A Python callable as the std::function<R(A...)> the core's callback adapters take: each call converts
// the arguments, calls it and converts its result to R, through call_python.
template <class Error, class Function>
struct python_function;
template <class Error, class R, class... A>
struct python_function<Error, std::function<R(A...)>> {
  shared_object fn;
  std::string who;
  R operator()(A... args) const {
    return call_python<Error>(who, [&]() -> R {
      py::object out = (*fn)(args...);
      if constexpr (!std::is_void_v<R>) return out.template cast<R>();
    });
  }
};

}  // namespace backfill::python
