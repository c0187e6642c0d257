#include "python_call.hpp"

namespace backfill::python {

shared_object share(py::object o) {
  return shared_object(new py::object(std::move(o)), [](py::object* p) {
    py::gil_scoped_acquire gil;
    delete p;
  });
}

void python_exception::restore() const {
  PyErr_SetObject(reinterpret_cast<PyObject*>(Py_TYPE(exc_->ptr())), exc_->ptr());
}

py::object raised_by(const py::error_already_set& e, const char* error_class, std::string_view who) {
  py::object value = e.value();
  py::module_ errors = py::module_::import("backfill.errors");
  if (!e.matches(PyExc_Exception) || py::isinstance(value, errors.attr("BackfillError"))) return value;
  std::string type = py::str(py::type::of(value).attr("__name__"));
  py::object wrapped =
      errors.attr(error_class)(fmt::format("{} raised {}: {}", who, type, std::string(py::str(value))));
  wrapped.attr("__cause__") = value;
  return wrapped;
}

void register_python_exceptions() {
  // Registered after the table of core errors, so it is tried first.
  py::register_exception_translator([](std::exception_ptr p) {
    try {
      if (p) std::rethrow_exception(p);
    } catch (const python_exception& e) {
      e.restore();
    }
  });
}

}  // namespace backfill::python
