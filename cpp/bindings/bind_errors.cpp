// Core errors -> backfill.errors, through one table. The cause of an error becomes the __cause__ of
// its Python twin. Messages are decoded as UTF-8 with replacement, so an odd byte in a message can
// never turn the real error into a UnicodeDecodeError.
#include <Python.h>

#include <algorithm>
#include <iterator>
#include <string>
#include <type_traits>
#include <vector>

#include "backfill/core/errors.hpp"
#include "bindings.hpp"

namespace backfill::python {
namespace {

template <class E>
bool is(const error& e) {
  if constexpr (std::is_same_v<E, error>)
    return true;
  else
    return dynamic_cast<const E*>(&e) != nullptr;
}

// Each core class and its Python twin, the most derived first: an error becomes the first row it matches.
struct twin {
  bool (*matches)(const error&);
  const char* python;
};
constexpr twin twins[] = {
    {is<config_error>, "ConfigError"},
    {is<journal_error>, "JournalError"},
    {is<ledger_error>, "LedgerError"},
    {is<storage_error>, "StorageError"},
    {is<pagination_error>, "PaginationError"},
    {is<source_error>, "SourceError"},
    {is<http_error>, "HttpError"},
    {is<sink_error>, "SinkError"},
    {is<embed_error>, "EmbedError"},
    {is<validation_error>, "ValidationError"},
    {is<verification_error>, "VerificationError"},
    {is<cancelled>, "Cancelled"},
    {is<error>, "BackfillError"},
};

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

std::vector<std::string> python_lineage(const error& e) {
  std::vector<std::string> out;
  for (const auto& t : twins)
    if (t.matches(e)) out.emplace_back(t.python);
  return out;
}

py::object error_object(const error& e) {
  const twin* row =
      std::find_if(std::begin(twins), std::end(twins), [&](const twin& t) { return t.matches(e); });
  py::object exc = py::module_::import("backfill.errors").attr(row->python)(utf8(e.what()));
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
