// The preflight checks (backfill/preflight): a run's cheap requests before it spends anything.
#include <pybind11/stl.h>
#include <pybind11/stl/filesystem.h>

#include "backfill/embed/embedder.hpp"
#include "backfill/preflight/preflight.hpp"
#include "backfill/sinks/sink.hpp"
#include "backfill/sources/source.hpp"
#include "bindings.hpp"

namespace backfill::python {

void register_preflight(py::module_& m) {
  bind_structs<false, check_result, preflight_report>(m, "CheckResult", "PreflightReport");
  m.def(
      "preflight",
      [](source& src, embedder& emb, sink& snk, const std::filesystem::path& workdir, bool before_run,
         py::object progress, py::object cancel) {
        preflight_report r;
        run_released([&](run_context& ctx) { r = preflight(src, emb, snk, workdir, ctx, before_run); },
                     std::move(progress), std::move(cancel));
        return r;
      },
      py::arg("source"), py::arg("embedder"), py::arg("sink"), py::arg("workdir"),
      py::arg("before_run") = false, py::arg("progress") = py::none(), py::arg("cancel") = py::none());
}

}  // namespace backfill::python
