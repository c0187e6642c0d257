// An embedder, a source and a sink written in Python (backfill.PythonEmbedder, PythonSource,
// PythonSink): the core's callback adapters (callback_embedder.hpp, callback_source.hpp,
// callback_sink.hpp) with each Python callable wrapped as a python_function, which holds the GIL for
// the call alone. The facade (python/backfill/{embedders,sources,sinks}/python.py) checks what the
// user's code returns and hands over plain values: pages as JSON text of documents, records as
// (id, values, metadata JSON) tuples; the core checks the rest.
#include <pybind11/numpy.h>
#include <pybind11/stl.h>

#include "backfill/embed/callback_embedder.hpp"
#include "backfill/sinks/callback/callback_sink.hpp"
#include "backfill/sources/callback/callback_source.hpp"
#include "python_call.hpp"

namespace backfill::python {
namespace {

// The vectors of `out`: a 2-D buffer of floats (NumPy, PyTorch on CPU via __array__, array.array...),
// copied once with no Python floats, or a sequence of float sequences. Needs the GIL.
std::vector<std::vector<float>> vectors_of(const py::object& out, std::size_t n, int dimension,
                                           const std::string& who) {
  if (py::hasattr(out, "__array_interface__") || py::isinstance<py::buffer>(out)) {
    auto arr = py::array_t<float, py::array::c_style | py::array::forcecast>::ensure(out);
    if (!arr) {
      PyErr_Clear();
      throw embed_error(who + " returned an array that is not numeric");
    }
    if (arr.ndim() != 2 || static_cast<std::size_t>(arr.shape(0)) != n || arr.shape(1) != dimension) {
      py::tuple shape(py::cast(std::vector<py::ssize_t>(arr.shape(), arr.shape() + arr.ndim())));
      throw embed_error(fmt::format("{} returned an array of shape {}, expected ({}, {})", who,
                                    std::string(py::str(shape)), n, dimension));
    }
    std::vector<std::vector<float>> vectors;
    const auto width = static_cast<std::size_t>(dimension);
    for (const float* row = arr.data(); vectors.size() < n; row += width)
      vectors.emplace_back(row, row + width);
    return vectors;
  }
  if (!py::isinstance<py::sequence>(out) || py::isinstance<py::str>(out))
    throw embed_error(fmt::format("{} returned {}, expected one vector per text", who,
                                  std::string(py::str(py::type::of(out).attr("__name__")))));
  std::vector<std::vector<float>> vectors;
  for (auto row : out) {
    try {
      vectors.push_back(row.cast<std::vector<float>>());
    } catch (const py::cast_error&) {
      throw embed_error(
          fmt::format("{} returned a vector {} that is not a list of numbers", who, vectors.size()));
    }
  }
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

// Pages of a Python iterator of (body, items, next_cursor, watermark) tuples, one call each.
struct python_pages {
  shared_object pages;
  std::string who;
  std::optional<callback_page> operator()() const {
    return call_python<source_error>(who, [&]() -> std::optional<callback_page> {
      auto item = py::reinterpret_steal<py::object>(PyIter_Next(pages->ptr()));
      if (!item && PyErr_Occurred()) throw py::error_already_set();
      return item ? std::optional(item.cast<callback_page>()) : std::nullopt;
    });
  }
};

// Each hook of `Hooks` (a struct of std::function fields) that `fns` names, as a python_function
// raising Error; the hooks it does not name stay empty.
template <class Error, class Hooks>
Hooks python_hooks(const py::dict& fns, const std::string& who) {
  Hooks h;
  fields_of(&h).each([&](std::string_view name, auto member) {
    py::str key(name.data(), name.size());
    if (!fns.contains(key)) return;
    using signature = typename signature_of<std::remove_reference_t<decltype(h.*member)>>::type;
    h.*member = python_function<Error, signature>{share(fns[key]), fmt::format("{} ({})", who, name)};
  });
  return h;
}

std::shared_ptr<callback_source> python_source(const py::dict& hooks, std::string kind,
                                               std::string description) {
  std::string who = "the Python source " + kind;
  auto h = python_hooks<source_error, callback_source_hooks>(hooks, who);
  // pages returns an iterator of pages, read one call at a time.
  h.pages = [open = share(hooks["pages"]), who = who + " (pages)"](std::string_view partition,
                                                                   std::string_view cursor) {
    auto pages = call_python<source_error>(who, [&] { return share(py::iter((*open)(partition, cursor))); });
    return callback_source_hooks::page_stream(python_pages{std::move(pages), who});
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
  register_python_exceptions();
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
