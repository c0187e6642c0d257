// C++ errors -> backfill.errors.*. Messages are decoded as UTF-8 with replacement, so an odd byte in a
// message can never turn the real error into a UnicodeDecodeError.
#include <Python.h>

#include "backfill/errors.hpp"
#include "bindings.hpp"

namespace backfill::python {
namespace {

void raise(const char* name, const std::exception& e, const char* path = nullptr) {
  py::object errors = py::module_::import("backfill.errors");
  py::object cls = errors.attr(name);
  const char* what = e.what();
  py::object message =
      py::reinterpret_steal<py::object>(PyUnicode_DecodeUTF8(what, static_cast<Py_ssize_t>(std::strlen(what)), "replace"));
  py::object exc = cls(message);
  if (path) exc.attr("path") = py::reinterpret_steal<py::object>(
      PyUnicode_DecodeFSDefault(path));
  PyErr_SetObject(cls.ptr(), exc.ptr());
}

}  // namespace

void register_errors(py::module_&) {
  py::register_exception_translator([](std::exception_ptr p) {
    if (!p) return;
    try {
      std::rethrow_exception(p);
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
