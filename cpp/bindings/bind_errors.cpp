// Core errors -> backfill.errors, each raised as the class error_lineage() names. The cause of an error
// becomes the __cause__ of its Python twin. Messages are decoded as UTF-8 with replacement, so an odd byte in
// a message can never turn the real error into a UnicodeDecodeError.
#include <Python.h>

#include <string>

#include "backfill/core/errors.hpp"
#include "bindings.hpp"

namespace backfill::python {
namespace {

void set_http_attributes(py::object& exc, const http_error& e) {
  exc.attr("status") = e.status();
  exc.attr("method") = e.method();
  exc.attr("url") = utf8(e.url());
  exc.attr("request_id") = utf8(e.request_id());
  exc.attr("body") = utf8(e.body_excerpt());
  exc.attr("attempts") = e.attempts();
  exc.attr("retryable") = e.retryable();
  exc.attr("grpc_status") =
      e.grpc_status() >= 0 ? py::object(py::int_(e.grpc_status())) : py::object(py::none());
}

}  // namespace

py::object utf8(const std::string& s) {
  return py::reinterpret_steal<py::object>(
      PyUnicode_DecodeUTF8(s.data(), static_cast<Py_ssize_t>(s.size()), "replace"));
}

py::object error_object(const error& e) {
  py::object exc = py::module_::import("backfill.errors").attr(error_lineage(e).front())(utf8(e.what()));
  if (const auto* h = dynamic_cast<const http_error*>(&e)) set_http_attributes(exc, *h);
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
    } catch (const error& e) {
      py::object exc = error_object(e);
      PyErr_SetObject(reinterpret_cast<PyObject*>(Py_TYPE(exc.ptr())), exc.ptr());
    }
  });
}

}  // namespace backfill::python
