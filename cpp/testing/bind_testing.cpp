// backfill._core._testing: core pieces that tests and benchmarks reach directly (the package itself
// never imports this submodule). The HTTP engine is in bind_http.cpp.
#include <pybind11/stl.h>

#include <map>

#include "backfill/core/errors.hpp"
#include "backfill/pack/sanitize.hpp"
#include "backfill/sources/jira/adf.hpp"
#include "backfill/sources/jira/jira.hpp"
#include "bindings.hpp"

namespace backfill::python {
namespace {

using make_fn = std::exception_ptr (*)(const std::string& message, std::exception_ptr cause);

// A sample of class E. The classes without a cause: cancelled, journal_error, and http_error (a 503 after
// 8 attempts, retryable).
template <class E>
std::exception_ptr make(const std::string& message, std::exception_ptr cause) {
  if constexpr (std::is_same_v<E, cancelled>)
    return std::make_exception_ptr(cancelled());
  else if constexpr (std::is_same_v<E, journal_error>)
    return std::make_exception_ptr(journal_error(message, "p/1.json"));
  else if constexpr (std::is_same_v<E, http_error>)
    return std::make_exception_ptr(http_error(message, 503, "GET", "http://h/x", "req-1", "busy", 8, true));
  else
    return std::make_exception_ptr(E(message, std::move(cause)));
}

// Every class of the core's error tree, by its C++ name.
const std::map<std::string, make_fn> error_kinds = {
    {"error", make<error>},
    {"config_error", make<config_error>},
    {"storage_error", make<storage_error>},
    {"journal_error", make<journal_error>},
    {"ledger_error", make<ledger_error>},
    {"source_error", make<source_error>},
    {"pagination_error", make<pagination_error>},
    {"http_error", make<http_error>},
    {"sink_error", make<sink_error>},
    {"embed_error", make<embed_error>},
    {"validation_error", make<validation_error>},
    {"verification_error", make<verification_error>},
    {"cancelled", make<cancelled>},
};

// A core error of `kind`; with cause_status > 0, caused by an http_error of that status.
std::exception_ptr sample_error(const std::string& kind, const std::string& message, long cause_status,
                                bool cause_retryable) {
  auto it = error_kinds.find(kind);
  if (it == error_kinds.end()) throw py::value_error("no core error class " + kind);
  std::exception_ptr cause;
  if (cause_status > 0)
    cause =
        std::make_exception_ptr(http_error("GET http://h/x -> " + std::to_string(cause_status), cause_status,
                                           "GET", "http://h/x", "req-7", "", 1, cause_retryable));
  return it->second(message, cause);
}

}  // namespace

void register_testing(py::module_& m) {
  m.def(
      "read_records",
      [](const py::list& records) {
        py::list out;
        for (const auto& r : records_from_python(records))
          out.append(py::make_tuple(r.id, py::cast(r.values), py::str(r.metadata_json)));
        return out;
      },
      py::arg("records"),
      "The records as Sink.upsert reads them: [(id, values as float32, metadata as canonical JSON)].");
  m.def("error_kinds", [] {
    std::vector<std::string> out;
    for (const auto& [name, make_error] : error_kinds) out.push_back(name);
    return out;
  });
  m.def(
      "raise_error",
      [](const std::string& kind, const std::string& message, long cause_status, bool cause_retryable) {
        std::rethrow_exception(sample_error(kind, message, cause_status, cause_retryable));
      },
      py::arg("kind"), py::arg("message") = "sample", py::arg("cause_status") = 0,
      py::arg("cause_retryable") = false,
      "Throw a core error of `kind` (a C++ class name), caused by an http_error when cause_status > 0.");
  m.def(
      "error_facts",
      [](const std::string& kind, long cause_status, bool cause_retryable) {
        try {
          std::rethrow_exception(sample_error(kind, "sample", cause_status, cause_retryable));
        } catch (const error& e) {
          return py::make_tuple(error_lineage(e), e.transient());
        }
      },
      py::arg("kind"), py::arg("cause_status") = 0, py::arg("cause_retryable") = false,
      "(the Python twins of the class and its parents, transient()) of a core error of `kind`.");

  m.def(
      "adf_to_text", [](const std::string& adf) { return adf_to_text(std::string_view(adf)); },
      py::arg("adf"), "Render Atlassian Document Format (JSON text) as plain text.");
  m.def(
      "normalize_jira_page",
      [](const std::string& page, const std::string& site, bool include_restricted) {
        std::string padded = page;
        padded.reserve(page.size() + 64);
        std::vector<document> docs;
        {
          py::gil_scoped_release nogil;
          normalize_jira_page(
              padded, site, [&](document&& d) { docs.push_back(std::move(d)); }, {}, include_restricted);
        }
        py::list out;
        py::object loads = py::module_::import("json").attr("loads");
        for (const auto& d : docs)
          out.append(py::dict(py::arg("id") = d.id, py::arg("title") = d.title, py::arg("text") = d.text,
                              py::arg("url") = d.url, py::arg("created_at") = d.created_at,
                              py::arg("updated_at") = d.updated_at,
                              py::arg("metadata") = loads(d.meta.to_json())));
        return out;
      },
      py::arg("page"), py::arg("site"), py::arg("include_restricted") = false,
      "Normalize one journaled Jira page ({'search': ..., 'comments': ...}) into document dicts.");
  m.def(
      "sanitize_metadata",
      [](const std::string& json_text, std::size_t max_bytes, std::vector<std::string> truncate_first) {
        sanitize_options o;
        o.max_bytes = max_bytes;
        o.truncate_first = std::move(truncate_first);
        sanitize_report r;
        auto out = sanitize_metadata(json_text, o, r);
        py::dict report(py::arg("truncated") = r.truncated, py::arg("dropped") = r.dropped,
                        py::arg("flattened") = r.flattened, py::arg("converted") = r.converted,
                        py::arg("bytes") = out ? out->size() : 0);
        return py::make_tuple(out ? py::object(py::str(*out)) : py::object(py::none()), report);
      },
      py::arg("json"), py::arg("max_bytes") = 40960,
      py::arg("truncate_first") = std::vector<std::string>{"text"},
      "Sanitize a metadata JSON object for a sink with limits: (canonical JSON or None, report).");
}

}  // namespace backfill::python
