// The pipeline's phases, each run with the GIL released. Reports come back as dicts; the Python
// facade turns them into dataclasses.
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
      if (!progress_cb.is_none()) {
        py::dict d;
        d["phase"] = p.phase;
        d["partition"] = p.partition;
        d["done"] = p.done;
        d["total"] = p.total;
        d["unit"] = p.unit;
        progress_cb(d);
      }
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

py::dict partition_dict(const partition_plan& p) {
  py::dict d;
  d["name"] = p.name;
  d["label"] = p.label;
  d["estimated_items"] = p.estimated_items;
  d["estimated_pages"] = p.estimated_pages;
  return d;
}

py::dict to_dict(const plan_report& r) {
  py::dict d;
  py::list parts;
  for (const auto& p : r.partitions) parts.append(partition_dict(p));
  d["partitions"] = parts;
  d["known_done"] = r.known_done;
  return d;
}

py::dict to_dict(const fetch_report& r) {
  py::dict d;
  d["partitions"] = r.partitions;
  d["partitions_skipped"] = r.partitions_skipped;
  d["pages_fetched"] = r.pages_fetched;
  d["pages_total"] = r.pages_total;
  d["items_fetched"] = r.items_fetched;
  d["bytes_fetched"] = r.bytes_fetched;
  return d;
}

py::dict to_dict(const validate_report& r) {
  py::dict d;
  d["partitions"] = r.partitions;
  d["pages"] = r.pages;
  d["items"] = r.items;
  d["duplicate_ids"] = r.duplicate_ids;
  py::list dups;
  for (const auto& x : r.duplicates) {
    py::dict e;
    e["partition"] = x.partition;
    e["id"] = x.id;
    e["pages"] = x.pages;
    dups.append(e);
  }
  d["duplicates"] = dups;
  py::list bad;
  for (const auto& x : r.bad_pages) {
    py::dict e;
    e["partition"] = x.partition;
    e["path"] = x.path;
    e["problem"] = x.problem;
    bad.append(e);
  }
  d["bad_pages"] = bad;
  d["unfetched_partitions"] = r.unfetched_partitions;
  return d;
}

py::dict to_dict(const ingest_report& r) {
  py::dict d;
  d["documents_seen"] = r.documents_seen;
  d["documents_unchanged"] = r.documents_unchanged;
  d["documents_superseded"] = r.documents_superseded;
  d["documents_deleted_upstream"] = r.documents_deleted_upstream;
  d["documents_written"] = r.documents_written;
  d["chunks_written"] = r.chunks_written;
  d["chunks_embedded"] = r.chunks_embedded;
  d["embedding_cache_hits"] = r.embedding_cache_hits;
  d["embed_calls"] = r.embed_calls;
  d["stale_chunks_deleted"] = r.stale_chunks_deleted;
  d["upsert_requests"] = r.upsert_requests;
  d["metadata_truncated"] = r.metadata.truncated;
  d["metadata_dropped"] = r.metadata.dropped;
  d["metadata_flattened"] = r.metadata.flattened;
  d["metadata_converted"] = r.metadata.converted;
  d["records_skipped"] = r.records_skipped;
  d["skipped_ids"] = r.skipped_ids;
  return d;
}

py::dict to_dict(const reconcile_report& r) {
  py::dict d;
  d["listed"] = r.listed;
  d["documents"] = r.documents;
  d["documents_deleted"] = r.documents_deleted;
  d["chunks_deleted"] = r.chunks_deleted;
  d["deleted"] = r.deleted;
  return d;
}

py::dict to_dict(const verify_report& r) {
  py::dict d;
  d["ok"] = r.ok;
  d["sink"] = r.sink;
  d["expected_count"] = r.expected_count;
  d["observed_count"] = r.observed_count;
  d["baseline"] = r.baseline;
  d["count_ok"] = r.count_ok;
  d["count_wait_seconds"] = r.count_wait_seconds;
  d["checked"] = r.checked;
  d["sampled"] = r.sampled;
  d["missing_count"] = r.missing_count;
  d["mismatched_count"] = r.mismatched_count;
  d["missing"] = r.missing;
  d["mismatched"] = r.mismatched;
  d["documents"] = r.documents;
  d["sink_info"] = r.sink_info;
  return d;
}

py::dict to_dict(const status_report& r) {
  py::dict d;
  py::list parts;
  for (const auto& p : r.partitions) {
    py::dict e;
    e["name"] = p.name;
    e["status"] = p.status;
    e["pages"] = p.pages;
    e["items"] = p.items;
    e["updated_at"] = p.updated_at;
    parts.append(e);
  }
  d["partitions"] = parts;
  d["pages"] = r.pages;
  d["documents"] = r.documents;
  d["live_chunks"] = r.live_chunks;
  d["cached_embeddings"] = r.cached_embeddings;
  return d;
}

}  // namespace

void register_pipeline(py::module_& m) {
  py::class_<pipeline>(m, "Pipeline")
      .def(py::init([](std::shared_ptr<source> src, std::shared_ptr<embedder> emb, std::shared_ptr<sink> snk,
                       const std::filesystem::path& workdir, std::size_t target_tokens, std::size_t overlap_tokens,
                       std::size_t max_tokens, std::size_t batch_records, double count_timeout_seconds,
                       bool overlap, std::size_t embed_concurrency, std::size_t fetch_concurrency) {
             pipeline_options o;
             o.workdir = workdir;
             o.chunking.target_tokens = target_tokens;
             o.chunking.overlap_tokens = overlap_tokens;
             o.chunking.max_tokens = max_tokens;
             o.batch_records = batch_records;
             o.count_timeout_seconds = count_timeout_seconds;
             o.overlap = overlap;
             o.embed_concurrency = embed_concurrency;
             o.fetch_concurrency = fetch_concurrency;
             return std::make_unique<pipeline>(std::move(src), std::move(emb), std::move(snk), std::move(o));
           }),
           py::arg("source"), py::arg("embedder"), py::arg("sink"), py::arg("workdir"), py::arg("target_tokens"),
           py::arg("overlap_tokens"), py::arg("max_tokens"), py::arg("batch_records"),
           py::arg("count_timeout_seconds"), py::arg("overlap") = true, py::arg("embed_concurrency") = 0,
           py::arg("fetch_concurrency") = 4)
      .def(
          "plan",
          [](pipeline& self, py::object progress, py::object cancel) {
            plan_report r;
            run_released([&](run_context& ctx) { r = self.plan(ctx); }, progress, cancel);
            return to_dict(r);
          },
          py::arg("progress") = py::none(), py::arg("cancel") = py::none())
      .def(
          "fetch",
          [](pipeline& self, std::vector<std::string> refetch, py::object progress, py::object cancel) {
            fetch_report r;
            run_released([&](run_context& ctx) { r = self.fetch(ctx, refetch); }, progress, cancel);
            return to_dict(r);
          },
          py::arg("refetch") = std::vector<std::string>{}, py::arg("progress") = py::none(),
          py::arg("cancel") = py::none())
      .def(
          "validate",
          [](pipeline& self, py::object progress, py::object cancel) {
            validate_report r;
            run_released([&](run_context& ctx) { r = self.validate(ctx); }, progress, cancel);
            return to_dict(r);
          },
          py::arg("progress") = py::none(), py::arg("cancel") = py::none())
      .def(
          "ingest",
          [](pipeline& self, py::object progress, py::object cancel) {
            ingest_report r;
            run_released([&](run_context& ctx) { r = self.ingest(ctx); }, progress, cancel);
            return to_dict(r);
          },
          py::arg("progress") = py::none(), py::arg("cancel") = py::none())
      .def(
          "fetch_and_ingest",
          [](pipeline& self, std::vector<std::string> refetch, py::object progress, py::object cancel) {
            run_report r;
            run_released([&](run_context& ctx) { r = self.fetch_and_ingest(ctx, refetch); }, progress, cancel);
            py::dict d;
            d["fetch"] = to_dict(r.fetch);
            d["ingest"] = to_dict(r.ingest);
            return d;
          },
          py::arg("refetch") = std::vector<std::string>{}, py::arg("progress") = py::none(),
          py::arg("cancel") = py::none())
      .def(
          "reconcile",
          [](pipeline& self, double max_fraction, py::object progress, py::object cancel) {
            reconcile_report r;
            run_released([&](run_context& ctx) { r = self.reconcile(ctx, max_fraction); }, progress, cancel);
            return to_dict(r);
          },
          py::arg("max_fraction") = 0.5, py::arg("progress") = py::none(), py::arg("cancel") = py::none())
      .def(
          "verify",
          [](pipeline& self, std::int64_t sample, py::object progress, py::object cancel) {
            verify_report r;
            run_released([&](run_context& ctx) { r = self.verify(ctx, sample); }, progress, cancel);
            return to_dict(r);
          },
          py::arg("sample") = 0, py::arg("progress") = py::none(), py::arg("cancel") = py::none())
      .def("status",
           [](pipeline& self) {
             status_report r;
             {
               py::gil_scoped_release nogil;
               r = self.status();
             }
             drain_logs();
             return to_dict(r);
           })
      .def(
          "query",
          [](pipeline& self, const std::string& text, std::size_t top_k) {
            std::vector<query_match> matches;
            {
              py::gil_scoped_release nogil;
              matches = self.query(text, top_k);
            }
            drain_logs();
            return matches_to_list(matches);
          },
          py::arg("text"), py::arg("top_k") = 5);
}

}  // namespace backfill::python
