// C++ errors -> backfill.errors.*. Messages are decoded as UTF-8 with replacement, so an odd byte in a
// message can never turn the real error into a UnicodeDecodeError.
#include <Python.h>

#include <cstring>

#include "backfill/core/errors.hpp"
#include "backfill/http/client.hpp"
#include "bindings.hpp"

namespace backfill::python {
namespace {

py::object utf8(const std::string& s) {
  return py::reinterpret_steal<py::object>(PyUnicode_DecodeUTF8(s.data(), static_cast<Py_ssize_t>(s.size()), "replace"));
}

py::object make(const char* name, const std::exception& e) {
  py::object cls = py::module_::import("backfill.errors").attr(name);
  return cls(utf8(e.what()));
}

void raise(py::object exc) { PyErr_SetObject(reinterpret_cast<PyObject*>(Py_TYPE(exc.ptr())), exc.ptr()); }

void raise(const char* name, const std::exception& e, const char* path = nullptr) {
  py::object exc = make(name, e);
  if (path) exc.attr("path") = py::reinterpret_steal<py::object>(PyUnicode_DecodeFSDefault(path));
  raise(exc);
}

}  // namespace

py::object http_error_object(const std::exception& base) {
  const auto& e = dynamic_cast<const http::http_error&>(base);
  py::object exc = make("HttpError", e);
  exc.attr("status") = e.status();
  exc.attr("method") = e.method();
  exc.attr("url") = utf8(e.url());
  exc.attr("request_id") = utf8(e.request_id());
  exc.attr("body") = utf8(e.body_excerpt());
  exc.attr("attempts") = e.attempts();
  exc.attr("retryable") = e.retryable();
  exc.attr("grpc_status") = e.grpc_status() >= 0 ? py::object(py::int_(e.grpc_status())) : py::object(py::none());
  return exc;
}

void register_errors(py::module_&) {
  py::register_exception_translator([](std::exception_ptr p) {
    if (!p) return;
    try {
      std::rethrow_exception(p);
    } catch (const http::http_error& e) {
      raise(http_error_object(e));
    } catch (const config_error& e) {
      raise("ConfigError", e);
    } catch (const journal_error& e) {
      raise("JournalError", e, e.path().c_str());
    } catch (const pagination_error& e) {
      raise("PaginationError", e);
    } catch (const source_error& e) {
      raise("SourceError", e);
    } catch (const sink_error& e) {
      raise("SinkError", e);
    } catch (const embed_error& e) {
      raise("EmbedError", e);
    } catch (const ledger_error& e) {
      raise("LedgerError", e);
    } catch (const io_error& e) {
      raise("StorageError", e);
    } catch (const cancelled& e) {
      raise("Cancelled", e);
    } catch (const error& e) {
      raise("BackfillError", e);
    }
  });
}

}  // namespace backfill::python
