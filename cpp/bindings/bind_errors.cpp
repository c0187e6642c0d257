// Core errors -> backfill.errors, each raised as the class error_lineage() names (or as the Python
// exception it carries from user code, python_call.hpp). The cause of an error
// becomes the __cause__ of its Python twin. Messages are decoded as UTF-8 with replacement, so an odd byte in
// a message can never turn the real error into a UnicodeDecodeError.
#include <Python.h>

#include <string>

#include "backfill/core/errors.hpp"
#include "python_call.hpp"

namespace backfill::python {

py::object utf8(const std::string& s) {
  return py::reinterpret_steal<py::object>(
      PyUnicode_DecodeUTF8(s.data(), static_cast<Py_ssize_t>(s.size()), "replace"));
}

py::object error_object(const error& e) {
  py::object cls = py::module_::import("backfill.errors").attr(error_lineage(e).front());
  const auto* h = dynamic_cast<const http_error*>(&e);
  py::object exc = h ? cls.attr("_from_core")(utf8(e.what()), h->status(), h->method(), utf8(h->url()),
                                              utf8(h->request_id()), utf8(h->body_excerpt()), h->attempts(),
                                              h->retryable(), h->grpc_status())
                     : cls(utf8(e.what()));
  if (const auto* j = dynamic_cast<const journal_error*>(&e))
    exc.attr("path") = py::reinterpret_steal<py::object>(PyUnicode_DecodeFSDefault(j->path().c_str()));
  if (e.cause()) try {
      std::rethrow_exception(e.cause());
    } catch (const error& cause) {
      exc.attr("__cause__") = error_object(cause);
    } catch (...) {
    }
  return exc;
}

void register_errors(py::module_&) {
  py::register_exception_translator([](std::exception_ptr p) {
    try {
      if (p) std::rethrow_exception(p);
    } catch (const python_exception& e) {
      e.restore();
    } catch (const error& e) {
      py::object exc = error_object(e);
      PyErr_SetObject(reinterpret_cast<PyObject*>(Py_TYPE(exc.ptr())), exc.ptr());
    }
  });
}

}  // namespace backfill::python
