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

bool is_backfill_error(const py::object& exc) {
  return py::isinstance(exc, py::module_::import("backfill.errors").attr("BackfillError"));
}

std::string type_name(const py::object& value) { return py::str(py::type::of(value).attr("__name__")); }

}  // namespace backfill::python
