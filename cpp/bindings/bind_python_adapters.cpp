// An embedder, a source and a sink written in Python (backfill.PythonEmbedder, PythonSource,
// PythonSink): the core's callback adapters (callback_embedder.hpp, callback_source.hpp,
// callback_sink.hpp) with each Python callable wrapped as a python_function, which holds the GIL for
// the call alone. The facade (python/backfill/{embedders,sources,sinks}/python.py) checks what the
// user's code returns and hands over plain values: pages as JSON text of documents, records as
// (id, values, metadata JSON) tuples, vectors as one float32 buffer; the core checks the rest.
#include <pybind11/stl.h>

#include "backfill/embed/callback_embedder.hpp"
#include "backfill/sinks/callback/callback_sink.hpp"
#include "backfill/sources/callback/callback_source.hpp"
#include "python_call.hpp"

namespace backfill::python {
namespace {

// The vectors of `out`, which the facade (backfill.embedders.python) made a C-contiguous float32 buffer
// of shape (n, dimension), copied row by row with no Python floats. Needs the GIL.
std::vector<std::vector<float>> vectors_of(const py::object& out, std::size_t n, int dimension,
                                           const std::string& who) {
  std::vector<std::vector<float>> vectors;
  std::vector<float> flat;
  const auto width = static_cast<std::size_t>(dimension);
  if (n && (!float32_buffer(out.ptr(), flat) || flat.size() != n * width))
    throw embed_error(fmt::format("{} returned an array that is not C-contiguous float32 of shape ({}, {})",
                                  who, n, dimension));
  for (auto row = flat.begin(); vectors.size() < n; row += dimension) vectors.emplace_back(row, row + width);
  return vectors;
}

std::shared_ptr<callback_embedder> python_embedder(py::function fn, int dimension, std::string name,
                                                   std::size_t batch_size, std::size_t concurrency) {
  std::string who = "the Python embedder " + name;
  auto embed = [fn = share(std::move(fn)), who, dimension](const std::vector<std::string_view>& texts) {
    return call_python<embed_error>(who,
                                    [&] { return vectors_of((*fn)(texts), texts.size(), dimension, who); });
  };
  return std::make_shared<callback_embedder>(
      embed, callback_embedder_options{"python", std::move(name), who, dimension, batch_size, concurrency});
}

// Each hook of `Hooks` (a struct of std::function fields) that `fns` names, as a python_function
// raising Error; the hooks it does not name stay empty.
template <class Error, class Hooks>
Hooks python_hooks(const py::dict& fns, const std::string& who) {
  Hooks h;
  fields_of(&h).each([&](std::string_view name, auto member) {
    py::str key(name.data(), name.size());
    if (!fns.contains(key)) return;
    using function = std::remove_reference_t<decltype(h.*member)>;
    h.*member = python_function<Error, function>{share(fns[key]), fmt::format("{} ({})", who, name)};
  });
  return h;
}

std::shared_ptr<callback_source> python_source(const py::dict& hooks, std::string kind,
                                               std::string description) {
  std::string who = "the Python source " + kind;
  auto h = python_hooks<source_error, callback_source_hooks>(hooks, who);
  // pages returns a callable that gives the partition's next page at each call, None after the last.
  h.pages = [open = share(hooks["pages"]), who = who + " (pages)"](std::string_view partition,
                                                                   std::string_view cursor) {
    auto next = call_python<source_error>(who, [&] { return share((*open)(partition, cursor)); });
    return callback_source_hooks::page_stream(
        python_function<source_error, callback_source_hooks::page_stream>{std::move(next), who});
  };
  return std::make_shared<callback_source>(std::move(h), std::move(kind), std::move(description));
}

std::shared_ptr<callback_sink> python_sink(const py::dict& hooks, std::string name, std::string description,
                                           std::size_t batch_size, std::size_t metadata_limit) {
  std::string who = "the Python sink " + name;
  return std::make_shared<callback_sink>(
      python_hooks<sink_error, callback_sink_hooks>(hooks, who),
      callback_sink_options{"python", std::move(name), who, std::move(description), batch_size,
                            metadata_limit});
}

}  // namespace

void register_python_adapters(py::module_& m) {
  py::class_<callback_embedder, embedder, std::shared_ptr<callback_embedder>>(m, "PythonEmbedder")
      .def(py::init(&python_embedder), py::arg("fn"), py::arg("dimension"), py::arg("name"),
           py::arg("batch_size") = 64, py::arg("concurrency") = 1);
  py::class_<callback_source, source, std::shared_ptr<callback_source>>(m, "PythonSource")
      .def(py::init(&python_source), py::arg("hooks"), py::arg("kind"), py::arg("description"));
  py::class_<callback_sink, sink, std::shared_ptr<callback_sink>>(m, "PythonSink")
      .def(py::init(&python_sink), py::arg("hooks"), py::arg("name"), py::arg("description"),
           py::arg("batch_size"), py::arg("metadata_limit"));
}

}  // namespace backfill::python
