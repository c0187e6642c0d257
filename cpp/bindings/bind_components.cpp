// Sources, embedders and sinks as Python objects. Python builds them from config; the pipeline
// takes them. The sink and embedder methods are exposed for scripting and tests.
#include <pybind11/stl.h>
#include <pybind11/stl/filesystem.h>

#include "backfill/embedder.hpp"
#include "backfill/local_index.hpp"
#include "backfill/slack_export.hpp"
#include "bindings.hpp"

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

  py::class_<embedder, std::shared_ptr<embedder>>(m, "Embedder")
      .def_property_readonly("identity", &embedder::identity)
      .def_property_readonly("dimension", &embedder::dimension)
      .def_property_readonly("calls", &embedder::calls)
      .def_property_readonly("inputs", &embedder::inputs)
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

  py::class_<sink, std::shared_ptr<sink>>(m, "Sink")
      .def_property_readonly("kind", &sink::kind)
      .def_property_readonly("identity", &sink::identity)
      .def("describe", &sink::describe)
      .def(
          "upsert",
          [](sink& self, const py::list& records) {
            std::vector<record> rs;
            py::object dumps = py::module_::import("backfill._canonical").attr("dumps");
            for (const auto& item : records) {
              py::dict d = item.cast<py::dict>();
              record r;
              r.id = d["id"].cast<std::string>();
              r.values = d["values"].cast<std::vector<float>>();
              r.metadata_json = d.contains("metadata") ? dumps(d["metadata"]).cast<std::string>() : "{}";
              rs.push_back(std::move(r));
            }
            py::gil_scoped_release nogil;
            return self.upsert(rs);
          },
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
          },
          py::arg("vector"), py::arg("top_k") = 10);

  py::class_<local_index, sink, std::shared_ptr<local_index>>(m, "LocalIndex")
      .def(py::init<const std::filesystem::path&, std::string>(), py::arg("path"), py::arg("namespace") = "")
      .def("namespaces", &local_index::namespaces);
}

}  // namespace backfill::python
