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
  bool interrupted = false;
  std::exception_ptr callback_error;
  run_context ctx([&](const backfill::progress& p) -> bool {
    py::gil_scoped_acquire gil;
    drain_logs();
    if (PyErr_CheckSignals() != 0) {
      interrupted = true;
      return true;
    }
    try {
      if (!cancel.is_none() && cancel.attr("is_set")().cast<bool>()) return true;
      if (!progress_cb.is_none())
        progress_cb(py::dict(py::arg("phase") = p.phase, py::arg("partition") = p.partition,
                             py::arg("done") = p.done, py::arg("total") = p.total, py::arg("unit") = p.unit));
    } catch (py::error_already_set&) {
      callback_error = std::current_exception();
      return true;
    }
    return false;
  });
  try {
    py::gil_scoped_release nogil;
    work(ctx);
  } catch (const cancelled&) {
    drain_logs();
    if (interrupted) throw py::error_already_set();  // the pending KeyboardInterrupt, as itself
    if (callback_error) std::rethrow_exception(callback_error);
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

// A phase of the pipeline as a method: its arguments, then progress and cancel; run with the GIL
// released, returning the phase's report.
template <class R, class... A>
auto phase(R (pipeline::*run)(run_context&, A...)) {
  return [run](pipeline& self, A... args, py::object progress, py::object cancel) {
    R r;
    run_released([&](run_context& ctx) { r = (self.*run)(ctx, args...); }, std::move(progress),
                 std::move(cancel));
    return r;
  };
}

void register_reports(py::module_& m) {
  using pp = partition_plan;
  using fr = fetch_report;
  using va = validate_report;
  using in = ingest_report;
  using re = reconcile_report;
  using ve = verify_report;
  using pr = partition_row;
  using st = status_report;
  bind_report(m, "PartitionPlan", FIELD(pp, name), FIELD(pp, label), FIELD(pp, estimated_items),
              FIELD(pp, estimated_pages));
  bind_report(m, "PlanReport", FIELD(plan_report, partitions), FIELD(plan_report, known_done));
  bind_report(m, "FetchReport", FIELD(fr, partitions), FIELD(fr, partitions_skipped),
              FIELD(fr, pages_fetched), FIELD(fr, pages_total), FIELD(fr, items_fetched),
              FIELD(fr, bytes_fetched));
  bind_report(m, "Duplicate", FIELD(duplicate_item, partition), FIELD(duplicate_item, id),
              FIELD(duplicate_item, pages));
  bind_report(m, "BadPage", FIELD(bad_page, partition), FIELD(bad_page, path), FIELD(bad_page, problem));
  bind_report(m, "ValidateReport", FIELD(va, partitions), FIELD(va, pages), FIELD(va, items),
              FIELD(va, duplicate_ids), FIELD(va, duplicates), FIELD(va, bad_pages),
              FIELD(va, unfetched_partitions));
  bind_report(m, "IngestReport", FIELD(in, documents_seen), FIELD(in, documents_unchanged),
              FIELD(in, documents_superseded), FIELD(in, documents_deleted_upstream),
              FIELD(in, documents_written), FIELD(in, chunks_written), FIELD(in, chunks_embedded),
              FIELD(in, embedding_cache_hits), FIELD(in, embed_calls), FIELD(in, stale_chunks_deleted),
              FIELD(in, upsert_requests), FIELD(in, records_skipped), FIELD(in, skipped_ids))
      .def_property_readonly("metadata_truncated", [](const in& r) { return r.metadata.truncated; })
      .def_property_readonly("metadata_dropped", [](const in& r) { return r.metadata.dropped; })
      .def_property_readonly("metadata_flattened", [](const in& r) { return r.metadata.flattened; })
      .def_property_readonly("metadata_converted", [](const in& r) { return r.metadata.converted; });
  bind_report(m, "ReconcileReport", FIELD(re, listed), FIELD(re, documents), FIELD(re, documents_deleted),
              FIELD(re, chunks_deleted), FIELD(re, deleted));
  bind_report(m, "VerifyReport", FIELD(ve, ok), FIELD(ve, sink), FIELD(ve, expected_count),
              FIELD(ve, observed_count), FIELD(ve, baseline), FIELD(ve, count_ok),
              FIELD(ve, count_wait_seconds), FIELD(ve, checked), FIELD(ve, sampled), FIELD(ve, missing_count),
              FIELD(ve, mismatched_count), FIELD(ve, missing), FIELD(ve, mismatched), FIELD(ve, documents),
              FIELD(ve, sink_info));
  bind_report(m, "PartitionStatus", FIELD(pr, name), FIELD(pr, status), FIELD(pr, pages), FIELD(pr, items),
              FIELD(pr, updated_at));
  bind_report(m, "StatusReport", FIELD(st, partitions), FIELD(st, pages), FIELD(st, documents),
              FIELD(st, live_chunks), FIELD(st, cached_embeddings));
  bind_report(m, "RunReport", FIELD(run_report, fetch), FIELD(run_report, ingest));
}

}  // namespace

void register_pipeline(py::module_& m) {
  register_reports(m);

  const auto none = py::none();
  const std::vector<std::string> no_refetch;
  py::class_<pipeline>(m, "Pipeline")
      .def(py::init<std::shared_ptr<source>, std::shared_ptr<embedder>, std::shared_ptr<sink>,
                    pipeline_options>(),
           py::arg("source"), py::arg("embedder"), py::arg("sink"), py::arg("options"))
      .def("plan", phase(&pipeline::plan), py::arg("progress") = none, py::arg("cancel") = none)
      .def("fetch", phase(&pipeline::fetch), py::arg("refetch") = no_refetch, py::arg("progress") = none,
           py::arg("cancel") = none)
      .def("validate", phase(&pipeline::validate), py::arg("progress") = none, py::arg("cancel") = none)
      .def("ingest", phase(&pipeline::ingest), py::arg("progress") = none, py::arg("cancel") = none)
      .def("fetch_and_ingest", phase(&pipeline::fetch_and_ingest), py::arg("refetch") = no_refetch,
           py::arg("progress") = none, py::arg("cancel") = none)
      .def("reconcile", phase(&pipeline::reconcile), py::arg("max_fraction") = 0.5,
           py::arg("progress") = none, py::arg("cancel") = none)
      .def("verify", phase(&pipeline::verify), py::arg("sample") = 0, py::arg("progress") = none,
           py::arg("cancel") = none)
      .def("status",
           [](pipeline& self) {
             status_report r = released([&] { return self.status(); });
             drain_logs();
             return r;
           })
      .def(
          "query",
          [](pipeline& self, const std::string& text, std::size_t top_k) {
            auto matches = released([&] { return self.query(text, top_k); });
            drain_logs();
            return matches_to_list(matches);
          },
          py::arg("text"), py::arg("top_k") = 5);
}

}  // namespace backfill::python
