#include "bindings.hpp"

namespace py = pybind11;

PYBIND11_MODULE(_core, m) {
  m.doc() = "backfill's C++ core (private: use the backfill package)";
  m.attr("__version__") = BACKFILL_VERSION;
  backfill::python::register_errors(m);
  backfill::python::register_logging(m);
  backfill::python::register_components(m);
  backfill::python::register_python_adapters(m);
  backfill::python::register_pipeline(m);
  backfill::python::register_preflight(m);
  py::module_ testing =
      m.def_submodule("_testing", "Core pieces for tests and benchmarks (not part of the API)");
  py::module_::import("sys").attr("modules")["backfill._core._testing"] = testing;
  backfill::python::register_http(testing);
  backfill::python::register_testing(testing);
}
