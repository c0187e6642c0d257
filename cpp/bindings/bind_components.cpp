// Sources, embedders and sinks as Python objects. Python builds them from config; the pipeline
// takes them. The sink and embedder methods are exposed for scripting and tests.
#include <pybind11/stl.h>
#include <pybind11/stl/filesystem.h>

#include "backfill/embed/embedder.hpp"
#include "backfill/sources/jira/adf.hpp"
#include "backfill/sources/jira/jira.hpp"
#include "backfill/sinks/local/local_index.hpp"
#include "backfill/embed/openai.hpp"
#include "backfill/sinks/pinecone/pinecone.hpp"
#include "backfill/pack/sanitize.hpp"
#include "backfill/sources/slack_export/slack_export.hpp"
#include "bindings.hpp"
#include "records.hpp"

namespace backfill::python {
namespace {

py::dict record_dict(const std::string& id, const std::vector<float>& values, const std::string& metadata) {
  py::dict d;
  d["id"] = id;
  d["values"] = values;
  d["metadata"] = py::module_::import("json").attr("loads")(metadata);
  return d;
}

}  // namespace

py::list matches_to_list(const std::vector<query_match>& matches) {
  py::list out;
  py::object loads = py::module_::import("json").attr("loads");
  for (const auto& mt : matches) {
    py::dict d;
    d["id"] = mt.id;
    d["score"] = mt.score;
    d["metadata"] = loads(mt.metadata_json);
    out.append(d);
  }
  return out;
}

void register_components(py::module_& m) {
  py::class_<source, std::shared_ptr<source>>(m, "Source")
      .def_property_readonly("kind", &source::kind)
      .def("describe", &source::describe);

  py::class_<slack_export_source, source, std::shared_ptr<slack_export_source>>(m, "SlackExportSource")
      .def(py::init([](const std::filesystem::path& path, std::string workspace_url,
                       std::vector<std::string> skip_subtypes) {
             slack_export_options o;
             o.path = path;
             o.workspace_url = std::move(workspace_url);
             o.skip_subtypes = std::move(skip_subtypes);
             return std::make_shared<slack_export_source>(std::move(o));
           }),
           py::arg("path"), py::arg("workspace_url"), py::arg("skip_subtypes"));

  py::class_<jira_source, source, std::shared_ptr<jira_source>>(m, "JiraSource")
      .def(py::init([](std::string url, std::string email, std::string token, std::vector<std::string> projects,
                       std::string jql, std::string since, int window_days, int max_results, int overlap_minutes,
                       double rate, int max_in_flight, double timeout, bool verify_tls) {
             jira_options o;
             o.url = std::move(url);
             o.email = std::move(email);
             o.token = std::move(token);
             o.projects = std::move(projects);
             o.jql = std::move(jql);
             o.since = std::move(since);
             o.window_days = window_days;
             o.max_results = max_results;
             o.overlap_minutes = overlap_minutes;
             o.rate = rate;
             o.max_in_flight = max_in_flight;
             o.timeout = timeout;
             o.verify_tls = verify_tls;
             return std::make_shared<jira_source>(std::move(o));
           }),
           py::kw_only(), py::arg("url"), py::arg("email"), py::arg("token"),
           py::arg("projects") = std::vector<std::string>{}, py::arg("jql") = "", py::arg("since") = "",
           py::arg("window_days") = 0, py::arg("max_results") = 100, py::arg("overlap_minutes") = 60,
           py::arg("rate") = 10.0, py::arg("max_in_flight") = 4, py::arg("timeout") = 60.0,
           py::arg("verify_tls") = true);

  m.def(
      "adf_to_text", [](const std::string& adf) { return adf_to_text(std::string_view(adf)); }, py::arg("adf"),
      "Render Atlassian Document Format (JSON text) as plain text.");
  m.def(
      "normalize_jira_page",
      [](const std::string& page, const std::string& site) {
        std::string padded = page;
        padded.reserve(page.size() + 64);
        std::vector<document> docs;
        {
          py::gil_scoped_release nogil;
          normalize_jira_page(padded, site, [&](document&& d) { docs.push_back(std::move(d)); });
        }
        py::list out;
        py::object loads = py::module_::import("json").attr("loads");
        for (const auto& d : docs) {
          py::dict x;
          x["id"] = d.id;
          x["title"] = d.title;
          x["text"] = d.text;
          x["url"] = d.url;
          x["created_at"] = d.created_at;
          x["updated_at"] = d.updated_at;
          x["metadata"] = loads(d.meta.to_json());
          out.append(x);
        }
        return out;
      },
      py::arg("page"), py::arg("site"),
      "Normalize one journaled Jira page ({'search': ..., 'comments': ...}) into document dicts.");

  py::class_<embedder, std::shared_ptr<embedder>>(m, "Embedder")
      .def_property_readonly("identity", &embedder::identity)
      .def_property_readonly("dimension", &embedder::dimension)
      .def_property_readonly("calls", &embedder::calls)
      .def_property_readonly("inputs", &embedder::inputs)
      .def_property_readonly("max_batch", &embedder::max_batch)
      .def_property_readonly("max_input_tokens", &embedder::max_input_tokens)
      .def(
          "embed",
          [](embedder& self, const std::vector<std::string>& texts) {
            std::vector<std::string_view> views(texts.begin(), texts.end());
            py::gil_scoped_release nogil;
            return self.embed(views);
          },
          py::arg("texts"), "Embed a list of texts; returns one list of floats per text.");

  py::class_<hash_embedder, embedder, std::shared_ptr<hash_embedder>>(m, "HashEmbedder")
      .def(py::init<int>(), py::arg("dimension"));

  py::class_<openai_embedder, embedder, std::shared_ptr<openai_embedder>>(m, "OpenAIEmbedder")
      .def(py::init([](std::string model, std::string api_key, std::string base_url, int dimensions,
                       std::size_t max_inputs, std::size_t max_tokens_per_request, std::size_t max_input_tokens,
                       int concurrency, double timeout, double rate, bool verify_tls, int max_attempts,
                       double base_delay, double max_elapsed) {
             openai_options o;
             o.model = std::move(model);
             o.api_key = std::move(api_key);
             o.base_url = std::move(base_url);
             o.dimensions = dimensions;
             o.max_inputs = max_inputs;
             o.max_tokens_per_request = max_tokens_per_request;
             o.max_input_tokens = max_input_tokens;
             o.concurrency = concurrency;
             o.timeout = timeout;
             o.rate = rate;
             o.verify_tls = verify_tls;
             o.max_attempts = max_attempts;
             o.base_delay = base_delay;
             o.max_elapsed = max_elapsed;
             return std::make_shared<openai_embedder>(std::move(o));
           }),
           py::kw_only(), py::arg("model"), py::arg("api_key") = "",
           py::arg("base_url") = "https://api.openai.com/v1", py::arg("dimensions") = 0,
           py::arg("max_inputs") = 2048, py::arg("max_tokens_per_request") = 300000,
           py::arg("max_input_tokens") = 8192, py::arg("concurrency") = 4, py::arg("timeout") = 120.0,
           py::arg("rate") = 0.0, py::arg("verify_tls") = true, py::arg("max_attempts") = 8,
           py::arg("base_delay") = 0.5, py::arg("max_elapsed") = 900.0)
      .def("describe", &openai_embedder::describe)
      .def_property_readonly("tokens", &openai_embedder::tokens,
                             "Tokens the server counted (usage.prompt_tokens) over every successful request.")
      .def_property_readonly("budget_waits", &openai_embedder::budget_waits,
                             "Times a request waited for the server's announced rate-limit budget to reset.")
      .def("http_stats", [](const openai_embedder& self) {
        auto s = self.http_stats();
        py::dict d;
        d["requests"] = s.requests;
        d["attempts"] = s.attempts;
        d["retries"] = s.retries;
        d["failures"] = s.failures;
        d["bytes_received"] = s.bytes_received;
        d["max_in_flight"] = s.max_in_flight;
        return d;
      });

  py::class_<sink, std::shared_ptr<sink>>(m, "Sink")
      .def_property_readonly("kind", &sink::kind)
      .def_property_readonly("identity", &sink::identity)
      .def("describe", &sink::describe)
      .def(
          "upsert",
          [](sink& self, const py::list& records) { return upsert_from_python(self, records); },
          py::arg("records"), "Upsert [{'id', 'values', 'metadata'}]; returns the acknowledged count.")
      .def(
          "fetch",
          [](sink& self, const std::vector<std::string>& ids) {
            std::vector<fetched_record> got;
            {
              py::gil_scoped_release nogil;
              got = self.fetch(ids);
            }
            py::dict out;
            for (const auto& r : got) out[py::str(r.id)] = record_dict(r.id, r.values, r.metadata_json);
            return out;
          },
          py::arg("ids"), "Fetch records by id: a dict id -> record; absent ids are missing.")
      .def(
          "delete",
          [](sink& self, const std::vector<std::string>& ids) {
            py::gil_scoped_release nogil;
            self.remove(ids);
          },
          py::arg("ids"))
      .def(
          "list",
          [](sink& self, const std::string& prefix, const std::string& after, std::size_t limit) {
            py::gil_scoped_release nogil;
            return self.list(prefix, after, limit);
          },
          py::arg("prefix") = "", py::arg("after") = "", py::arg("limit") = 100)
      .def("stats",
           [](sink& self) {
             sink_stats s;
             {
               py::gil_scoped_release nogil;
               s = self.stats();
             }
             py::dict d;
             d["count"] = s.count;
             d["dimension"] = s.dimension;
             return d;
           })
      .def(
          "query",
          [](sink& self, const std::vector<float>& vector, std::size_t top_k) {
            std::vector<query_match> matches;
            {
              py::gil_scoped_release nogil;
              matches = self.query(vector, top_k);
            }
            return matches_to_list(matches);
          },
          py::arg("vector"), py::arg("top_k") = 10);

  py::class_<pinecone_sink, sink, std::shared_ptr<pinecone_sink>>(m, "PineconeSink")
      .def(py::init([](std::string host, std::string api_key, std::string name_space, std::string api_version,
                       std::size_t max_records, std::size_t max_request_bytes, int max_in_flight, double rate,
                       double timeout, bool verify_tls, std::size_t metadata_max_bytes, int max_attempts,
                       double base_delay, std::string transport) {
             pinecone_options o;
             o.host = std::move(host);
             o.api_key = std::move(api_key);
             o.name_space = std::move(name_space);
             o.api_version = std::move(api_version);
             o.max_records = max_records;
             o.max_request_bytes = max_request_bytes;
             o.max_in_flight = max_in_flight;
             o.rate = rate;
             o.timeout = timeout;
             o.verify_tls = verify_tls;
             o.metadata_max_bytes = metadata_max_bytes;
             o.max_attempts = max_attempts;
             o.base_delay = base_delay;
             o.transport = std::move(transport);
             return std::make_shared<pinecone_sink>(std::move(o));
           }),
           py::kw_only(), py::arg("host"), py::arg("api_key"), py::arg("namespace") = "",
           py::arg("api_version") = "2025-10", py::arg("max_records") = 1000,
           py::arg("max_request_bytes") = 2000000, py::arg("max_in_flight") = 16, py::arg("rate") = 100.0,
           py::arg("timeout") = 60.0, py::arg("verify_tls") = true, py::arg("metadata_max_bytes") = 40960,
           py::arg("max_attempts") = 8, py::arg("base_delay") = 0.5, py::arg("transport") = "grpc");

  m.def(
      "sanitize_metadata",
      [](const std::string& json_text, std::size_t max_bytes, std::vector<std::string> truncate_first) {
        sanitize_options o;
        o.max_bytes = max_bytes;
        o.truncate_first = std::move(truncate_first);
        sanitize_report r;
        auto out = sanitize_metadata(json_text, o, r);
        py::dict report;
        report["truncated"] = r.truncated;
        report["dropped"] = r.dropped;
        report["flattened"] = r.flattened;
        report["converted"] = r.converted;
        report["bytes"] = out ? out->size() : 0;
        return py::make_tuple(out ? py::object(py::str(*out)) : py::object(py::none()), report);
      },
      py::arg("json"), py::arg("max_bytes") = 40960, py::arg("truncate_first") = std::vector<std::string>{"text"},
      "Sanitize a metadata JSON object for a sink with limits: (canonical JSON or None, report).");

  m.def(
      "read_records",
      [](const py::list& records) {
        std::vector<record> rs = records_from_python(records);
        py::list out;
        for (const auto& r : rs) out.append(py::make_tuple(r.id, py::cast(r.values), py::str(r.metadata_json)));
        return out;
      },
      py::arg("records"),
      "The records as Sink.upsert reads them: [(id, values as float32, metadata as canonical JSON)].");

  py::class_<local_index, sink, std::shared_ptr<local_index>>(m, "LocalIndex")
      .def(py::init<const std::filesystem::path&, std::string>(), py::arg("path"), py::arg("namespace") = "")
      .def("namespaces", &local_index::namespaces);
}

}  // namespace backfill::python
