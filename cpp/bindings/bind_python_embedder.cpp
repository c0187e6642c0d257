// An embedder that calls a Python function: `fn(list[str]) -> vectors` (a list of lists of floats
// or a 2-D NumPy-style array), so sentence-transformers or any in-house model plugs in. The pipeline
// calls embed() from its worker threads with the GIL released; the GIL is taken only for the call and
// the conversion of its result, so a model that releases the GIL itself (PyTorch, ONNX Runtime) runs
// concurrently with the rest of the pipeline.
#include <pybind11/numpy.h>
#include <pybind11/stl.h>

#include <fmt/format.h>

#include "backfill/embed/embedder.hpp"
#include "backfill/core/errors.hpp"
#include "bindings.hpp"
#include "python_call.hpp"

namespace backfill::python {
namespace {

class python_embedder final : public embedder {
 public:
  python_embedder(py::function fn, int dimension, std::string name, std::size_t batch_size, std::size_t concurrency)
      : fn_(share(std::move(fn))), dimension_(dimension), name_(std::move(name)), batch_size_(batch_size),
        concurrency_(concurrency) {
    if (dimension < 1) throw config_error(fmt::format("embedder.dimension must be positive, got {}", dimension));
    if (batch_size < 1) throw config_error("embedder.batch_size must be at least 1");
    if (concurrency < 1) throw config_error("embedder.concurrency must be at least 1");
    if (name_.empty()) throw config_error("a Python embedder needs a name (its model), which keys the embedding cache");
  }

  std::string identity() const override { return fmt::format("python:{}:dim={}", name_, dimension_); }
  int dimension() const override { return dimension_; }
  std::size_t max_batch() const override { return batch_size_; }
  std::size_t concurrency() const override { return concurrency_; }

  std::vector<std::vector<float>> embed(const std::vector<std::string_view>& texts) override {
    count_call(texts.size());
    return call_python<embed_error>(fmt::format("the Python embedder {}", name_), [&] {
      py::list args(texts.size());
      for (std::size_t i = 0; i < texts.size(); ++i)
        args[i] = py::str(texts[i].data(), static_cast<py::ssize_t>(texts[i].size()));
      return to_vectors((*fn_)(args), texts.size());
    });
  }

 private:
  std::vector<std::vector<float>> to_vectors(const py::object& out, std::size_t n) const {
    std::vector<std::vector<float>> vectors;
    vectors.reserve(n);
    // A buffer of floats (NumPy, PyTorch on CPU via __array__, array.array...): one copy, no Python floats.
    if (py::hasattr(out, "__array_interface__") || py::isinstance<py::buffer>(out)) {
      auto arr = py::array_t<float, py::array::c_style | py::array::forcecast>::ensure(out);
      if (!arr) {
        PyErr_Clear();
        throw embed_error(fmt::format("the Python embedder {} returned an array that is not numeric", name_));
      }
      if (arr.ndim() != 2 || static_cast<std::size_t>(arr.shape(0)) != n || arr.shape(1) != dimension_)
        throw embed_error(fmt::format("the Python embedder {} returned an array of shape {}, expected ({}, {})",
                                      name_, shape_of(arr), n, dimension_));
      const float* data = arr.data();
      for (std::size_t i = 0; i < n; ++i)
        vectors.emplace_back(data + i * static_cast<std::size_t>(dimension_),
                             data + (i + 1) * static_cast<std::size_t>(dimension_));
      return vectors;
    }
    if (!py::isinstance<py::sequence>(out) || py::isinstance<py::str>(out))
      throw embed_error(fmt::format("the Python embedder {} returned {}, expected one vector per text", name_,
                                    std::string(py::str(py::type::of(out).attr("__name__")))));
    auto seq = py::reinterpret_borrow<py::sequence>(out);
    if (seq.size() != n)
      throw embed_error(fmt::format("the Python embedder {} returned {} vectors for {} texts", name_, seq.size(), n));
    for (std::size_t i = 0; i < n; ++i) {
      py::object row = seq[i];
      std::vector<float> v;
      try {
        v = row.cast<std::vector<float>>();
      } catch (const py::cast_error&) {
        throw embed_error(fmt::format("the Python embedder {} returned a vector {} that is not a list of numbers",
                                      name_, i));
      }
      if (static_cast<int>(v.size()) != dimension_)
        throw embed_error(fmt::format("the Python embedder {} returned a vector of dimension {}, expected {}", name_,
                                      v.size(), dimension_));
      vectors.push_back(std::move(v));
    }
    return vectors;
  }

  static std::string shape_of(const py::array& a) {
    std::string s = "(";
    for (py::ssize_t i = 0; i < a.ndim(); ++i) s += (i ? ", " : "") + std::to_string(a.shape(i));
    return s + (a.ndim() == 1 ? ",)" : ")");
  }

  shared_object fn_;
  int dimension_;
  std::string name_;
  std::size_t batch_size_;
  std::size_t concurrency_;
};

}  // namespace

void register_python_embedder(py::module_& m) {
  py::class_<python_embedder, embedder, std::shared_ptr<python_embedder>>(m, "PythonEmbedder")
      .def(py::init<py::function, int, std::string, std::size_t, std::size_t>(), py::arg("fn"), py::arg("dimension"),
           py::arg("name"), py::arg("batch_size") = 64, py::arg("concurrency") = 1);
}

}  // namespace backfill::python
