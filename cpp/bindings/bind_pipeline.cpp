// The pipeline's phases, each run with the GIL released. Reports come back as read-only structs; the
// Python facade turns them into dataclasses (backfill.reports).
#include <Python.h>
#include <pybind11/stl.h>
#include <pybind11/stl/filesystem.h>

#include "backfill/core/errors.hpp"
#include "backfill/pipeline/pipeline.hpp"
#include "bindings.hpp"

namespace backfill::python {

void run_released(const std::function<void(run_context&)>& work, py::object progress_cb, py::object cancel) {
  // A tick's error (a KeyboardInterrupt, the callbacks' own) stops the run and is raised as itself.
  run_context ctx([&](const backfill::progress& p) -> bool {
    py::gil_scoped_acquire gil;
    drain_logs();
    if (PyErr_CheckSignals() != 0) throw py::error_already_set();
    if (!cancel.is_none() && cancel.attr("is_set")().cast<bool>()) return true;
    if (!progress_cb.is_none()) progress_cb(fields_dict(p));
    return false;
  });
  try {
    py::gil_scoped_release nogil;
    work(ctx);
  } catch (const cancelled&) {
    drain_logs();
    if (ctx.tick_error()) std::rethrow_exception(ctx.tick_error());
    throw;
  } catch (...) {
    drain_logs();
    throw;
  }
  drain_logs();
  // A Ctrl-C that arrived during the last stretch of work, after the final tick.
  if (PyErr_CheckSignals() != 0) throw py::error_already_set();
}

namespace {

// A phase of the pipeline as the method `name`: its arguments (`args` name them), then progress and
// cancel; run with the GIL released, returning the phase's report.
template <class R, class... A, class... Arg>
void def_phase(py::class_<pipeline>& c, const char* name, R (pipeline::*run)(run_context&, A...),
               Arg... args) {
  auto method = [run](pipeline& self, A... a, py::object progress, py::object cancel) {
    R r;
    run_released([&](run_context& ctx) { r = (self.*run)(ctx, a...); }, std::move(progress),
                 std::move(cancel));
    return r;
  };
  c.def(name, method, args..., py::arg("progress") = py::none(), py::arg("cancel") = py::none());
}

}  // namespace

void register_pipeline(py::module_& m) {
  bind_structs<false, partition_plan, plan_report, fetch_report, duplicate_item, bad_page, validate_report,
               sanitize_report, unsent_record, quarantined_item, ingest_report, reconcile_report,
               verify_report, partition_row, workdir_usage, gc_report, status_report, run_report>(
      m, "PartitionPlan", "PlanReport", "FetchReport", "Duplicate", "BadPage", "ValidateReport",
      "MetadataChanges", "UnsentRecord", "QuarantinedItem", "IngestReport", "ReconcileReport", "VerifyReport",
      "PartitionStatus", "WorkdirUsage", "GcReport", "StatusReport", "RunReport");

  const std::vector<std::string> no_refetch;
  py::class_<pipeline> c(m, "Pipeline");
  def_phase(c, "plan", &pipeline::plan);
  def_phase(c, "plan_with_estimates", &pipeline::plan_with_estimates);
  def_phase(c, "fetch", &pipeline::fetch, py::arg("refetch") = no_refetch);
  def_phase(c, "validate", &pipeline::validate);
  def_phase(c, "ingest", &pipeline::ingest);
  def_phase(c, "fetch_and_ingest", &pipeline::fetch_and_ingest, py::arg("refetch") = no_refetch,
            py::arg("validate_next") = false);
  def_phase(c, "reconcile", &pipeline::reconcile, py::arg("max_fraction") = 0.5);
  def_phase(c, "verify", &pipeline::verify, py::arg("sample") = 0);
  c.def(py::init<std::shared_ptr<source>, std::shared_ptr<embedder>, std::shared_ptr<sink>,
                 pipeline_options>(),
        py::arg("source"), py::arg("embedder"), py::arg("sink"), py::arg("options"))
      .def("status", [](pipeline& self) { return released([&] { return self.status(); }); })
      .def(
          "gc", [](pipeline& self, bool keep) { return released([&] { return self.gc(keep); }); },
          py::arg("keep_embeddings") = false)
      .def(
          "evict_verified_embeddings",
          [](pipeline& self, bool keep) {
            return released([&] { return self.evict_verified_embeddings(keep); });
          },
          py::arg("keep_embeddings") = false)
      .def(
          "query",
          [](pipeline& self, const std::string& text, std::size_t top_k) {
            return fields_dicts(released([&] { return self.query(text, top_k); }));
          },
          py::arg("text"), py::arg("top_k") = 5);
}

}  // namespace backfill::python
