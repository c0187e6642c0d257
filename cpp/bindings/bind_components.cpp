// Sources, embedders and sinks as Python objects, each built from its options struct. Python builds
// them from config; the pipeline takes them. The sink and embedder methods are exposed for scripting.
#include <pybind11/stl.h>
#include <pybind11/stl/filesystem.h>

#include "backfill/embed/embedder.hpp"
#include "backfill/embed/openai.hpp"
#include "backfill/http/client.hpp"
#include "backfill/pipeline/pipeline.hpp"
#include "backfill/sinks/local/local_index.hpp"
#include "backfill/sinks/pgvector/pgvector.hpp"
#include "backfill/sinks/pinecone/pinecone.hpp"
#include "backfill/sources/github/github.hpp"
#include "backfill/sources/jira/jira.hpp"
#include "backfill/sources/slack_api/slack_api.hpp"
#include "backfill/sources/slack_export/slack_export.hpp"
#include "bindings.hpp"

namespace backfill::python {
namespace {

// A component built from its options struct, or from keyword arguments naming the struct's fields.
template <class S, class O, class Base>
py::class_<S, Base, std::shared_ptr<S>> bind_built(py::module_& m, const char* name) {
  py::class_<S, Base, std::shared_ptr<S>> c(m, name);
  c.def(py::init<O>(), py::arg("options"));
  c.def(py::init([](const py::kwargs& kw) { return std::make_shared<S>(options_from<O>(kw)); }));
  return c;
}

}  // namespace

void register_components(py::module_& m) {
  // Every options struct: the components' and the pipeline's.
  bind_structs<true, jira_options, github_options, slack_export_options, slack_api_options, openai_options,
               pinecone_options, pgvector_options, chunker_options, pipeline_options>(
      m, "JiraOptions", "GitHubOptions", "SlackExportOptions", "SlackApiOptions", "OpenAIOptions",
      "PineconeOptions", "PgvectorOptions", "ChunkingOptions", "PipelineOptions");
  py::class_<source, std::shared_ptr<source>>(m, "Source")
      .def_property_readonly("kind", &source::kind)
      .def("describe", &source::describe);
  bind_built<slack_export_source, slack_export_options, source>(m, "SlackExportSource");
  bind_built<jira_source, jira_options, source>(m, "JiraSource");
  bind_built<github_source, github_options, source>(m, "GitHubSource");
  bind_built<slack_api_source, slack_api_options, source>(m, "SlackApiSource")
      .def_property_readonly("requests", &slack_api_source::requests, "Web API requests made so far.")
      .def_property_readonly("paced_seconds", &slack_api_source::paced_seconds,
                             "Seconds spent waiting for the pace of Slack's rate limits.");

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
            return released([&] { return self.embed(views); });
          },
          py::arg("texts"), "Embed a list of texts; returns one list of floats per text.");
  py::class_<hash_embedder, embedder, std::shared_ptr<hash_embedder>>(m, "HashEmbedder")
      .def(py::init<int>(), py::arg("dimension"));
  bind_built<openai_embedder, openai_options, embedder>(m, "OpenAIEmbedder")
      .def("describe", &openai_embedder::describe)
      .def_property_readonly("tokens", &openai_embedder::tokens,
                             "Tokens the server counted (usage.prompt_tokens) over every successful request.")
      .def_property_readonly("budget_waits", &openai_embedder::budget_waits,
                             "Times a request was held back for the quota the server announced.")
      .def_property_readonly(
          "quota_waits", [](const openai_embedder& self) { return self.quota().waits(); },
          "Seconds requests waited for the server's quota, per quota (\"openai tokens\").")
      .def("http_stats", [](const openai_embedder& self) { return fields_dict(self.http_stats()); });

  py::class_<sink, std::shared_ptr<sink>>(m, "Sink")
      .def_property_readonly("kind", &sink::kind)
      .def_property_readonly("identity", &sink::identity)
      .def("describe", &sink::describe)
      .def("upsert", &upsert_from_python, py::arg("records"),
           "Upsert [{'id', 'values', 'metadata'}]; returns the acknowledged count.")
      .def(
          "fetch",
          [](sink& self, const std::vector<std::string>& ids) {
            py::dict out;
            for (const auto& r : released([&] { return self.fetch(ids); }))
              out[py::str(r.id)] = fields_dict(r);
            return out;
          },
          py::arg("ids"), "Fetch records by id: a dict id -> record; absent ids are missing.")
      .def("delete", &sink::remove, release_gil(), py::arg("ids"))
      .def("list", &sink::list, release_gil(), py::arg("prefix") = "", py::arg("after") = "",
           py::arg("limit") = 100)
      .def("stats", [](sink& self) { return fields_dict(released([&] { return self.stats(); })); })
      .def(
          "query",
          [](sink& self, const std::vector<float>& vector, std::size_t top_k) {
            return fields_dicts(released([&] { return self.query(vector, top_k); }));
          },
          py::arg("vector"), py::arg("top_k") = 10);
  bind_built<pinecone_sink, pinecone_options, sink>(m, "PineconeSink");
  bind_built<pgvector_sink, pgvector_options, sink>(m, "PgvectorSink");
  py::class_<local_index, sink, std::shared_ptr<local_index>>(m, "LocalIndex")
      .def(py::init<const std::filesystem::path&, std::string>(), py::arg("path"), py::arg("namespace") = "")
      .def("namespaces", &local_index::namespaces);
}

}  // namespace backfill::python
