// Records from Python: [{"id": str, "values": [float] | float32/float64 buffer, "metadata": dict}]
// into core records, with the GIL held and as little Python machinery as possible, since this is
// the part of Sink.upsert that cannot run in parallel with anything:
//   - values: a list or tuple of floats is read item by item with the C API (no pybind11 caster,
//     no temporary vector of doubles); a buffer of float32 (array.array("f"), numpy) is one memcpy;
//   - metadata: written as canonical JSON (keys sorted, compact, UTF-8, floats as repr() writes
//     them) straight from the dict, the same bytes backfill._canonical.dumps gives; anything this
//     writer does not know (a non-str key, a custom type) is handed to dumps itself.
#include <Python.h>

#include <algorithm>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <thread>
#include <charconv>
#include <cmath>
#include <cstring>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "backfill/json.hpp"
#include "records.hpp"

namespace backfill::python {
namespace {

struct keys {
  PyObject* id = PyUnicode_InternFromString("id");
  PyObject* values = PyUnicode_InternFromString("values");
  PyObject* metadata = PyUnicode_InternFromString("metadata");
};

const keys& key_names() {
  static const keys* k = new keys();  // kept for the life of the process
  return *k;
}

[[noreturn]] void type_error(const std::string& text) { throw py::type_error(text); }

bool read_buffer(PyObject* obj, std::vector<float>& out) {
  if (!PyObject_CheckBuffer(obj)) return false;
  Py_buffer view;
  if (PyObject_GetBuffer(obj, &view, PyBUF_FORMAT | PyBUF_C_CONTIGUOUS) != 0) {
    PyErr_Clear();
    return false;
  }
  std::string_view fmt = view.format ? view.format : "B";
  if (!fmt.empty() && (fmt.front() == '<' || fmt.front() == '=' || fmt.front() == '@')) fmt.remove_prefix(1);
  bool ok = true;
  if (fmt == "f" && view.itemsize == 4) {
    out.resize(static_cast<std::size_t>(view.len) / 4);
    std::memcpy(out.data(), view.buf, out.size() * 4);
  } else if (fmt == "d" && view.itemsize == 8) {
    std::size_t n = static_cast<std::size_t>(view.len) / 8;
    out.resize(n);
    const auto* d = static_cast<const double*>(view.buf);
    for (std::size_t i = 0; i < n; ++i) out[i] = static_cast<float>(d[i]);
  } else {
    ok = false;
  }
  PyBuffer_Release(&view);
  return ok;
}

void read_values(PyObject* obj, std::vector<float>& out, PyObject* id) {
  if (PyList_CheckExact(obj) || PyTuple_CheckExact(obj)) {
    Py_ssize_t n = PySequence_Fast_GET_SIZE(obj);
    PyObject** items = PySequence_Fast_ITEMS(obj);
    out.resize(static_cast<std::size_t>(n));
    float* dst = out.data();
    for (Py_ssize_t i = 0; i < n; ++i) {
      // Each float is an object of its own: asking for the one 64 ahead (about a memory latency
      // of this loop) keeps loads in flight instead of one pointer chase at a time.
      if (i + 64 < n) __builtin_prefetch(items[i + 64]);
      PyObject* x = items[i];
      if (Py_IS_TYPE(x, &PyFloat_Type)) {
        dst[i] = static_cast<float>(PyFloat_AS_DOUBLE(x));
        continue;
      }
      double d = PyFloat_AsDouble(x);  // ints, numpy scalars, anything with __float__
      if (d == -1.0 && PyErr_Occurred()) {
        PyErr_Clear();
        type_error("record " + py::str(id).cast<std::string>() + ": values must be numbers");
      }
      dst[i] = static_cast<float>(d);
    }
    return;
  }
  if (read_buffer(obj, out)) return;
  // Anything else iterable (a generator, a numpy array of another type): the slow, general way.
  try {
    out = py::reinterpret_borrow<py::object>(obj).cast<std::vector<float>>();
  } catch (const py::cast_error&) {
    type_error("record " + py::str(id).cast<std::string>() + ": values must be a list of numbers or a float buffer");
  }
}

bool write_json(std::string& out, PyObject* v, int depth);

bool write_str(std::string& out, PyObject* s) {
  Py_ssize_t n = 0;
  const char* p = PyUnicode_AsUTF8AndSize(s, &n);
  if (!p) {  // lone surrogates: leave the text to json.dumps
    PyErr_Clear();
    return false;
  }
  backfill::json::append_string(out, std::string_view(p, static_cast<std::size_t>(n)));
  return true;
}

bool write_dict(std::string& out, PyObject* d, int depth) {
  std::vector<std::pair<std::string_view, PyObject*>> items;
  items.reserve(static_cast<std::size_t>(PyDict_GET_SIZE(d)));
  PyObject *k, *v;
  Py_ssize_t pos = 0;
  while (PyDict_Next(d, &pos, &k, &v)) {
    if (!PyUnicode_CheckExact(k)) return false;
    Py_ssize_t n = 0;
    const char* p = PyUnicode_AsUTF8AndSize(k, &n);
    if (!p) {
      PyErr_Clear();
      return false;
    }
    items.emplace_back(std::string_view(p, static_cast<std::size_t>(n)), v);
  }
  // UTF-8 byte order is code point order: the order of sort_keys=True.
  std::sort(items.begin(), items.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
  out.push_back('{');
  bool first = true;
  for (auto& [key, value] : items) {
    if (!first) out.push_back(',');
    first = false;
    backfill::json::append_string(out, key);
    out.push_back(':');
    if (!write_json(out, value, depth + 1)) return false;
  }
  out.push_back('}');
  return true;
}

bool write_json(std::string& out, PyObject* v, int depth) {
  if (depth > 32) return false;
  if (PyUnicode_CheckExact(v)) return write_str(out, v);
  if (v == Py_True) {
    out += "true";
  } else if (v == Py_False) {
    out += "false";
  } else if (v == Py_None) {
    out += "null";
  } else if (PyFloat_CheckExact(v)) {
    double d = PyFloat_AS_DOUBLE(v);
    if (!std::isfinite(d)) return false;  // dumps raises its own ValueError (allow_nan=False)
    char* text = PyOS_double_to_string(d, 'r', 0, Py_DTSF_ADD_DOT_0, nullptr);  // float.__repr__
    if (!text) {
      PyErr_Clear();
      return false;
    }
    out += text;
    PyMem_Free(text);
  } else if (PyLong_CheckExact(v)) {
    int overflow = 0;
    long long n = PyLong_AsLongLongAndOverflow(v, &overflow);
    if (overflow || (n == -1 && PyErr_Occurred())) {
      PyErr_Clear();
      return false;
    }
    char buf[24];
    out.append(buf, static_cast<std::size_t>(std::to_chars(buf, buf + sizeof buf, n).ptr - buf));
  } else if (PyList_CheckExact(v) || PyTuple_CheckExact(v)) {
    Py_ssize_t n = PySequence_Fast_GET_SIZE(v);
    PyObject** items = PySequence_Fast_ITEMS(v);
    out.push_back('[');
    for (Py_ssize_t i = 0; i < n; ++i) {
      if (i) out.push_back(',');
      if (!write_json(out, items[i], depth + 1)) return false;
    }
    out.push_back(']');
  } else if (PyDict_CheckExact(v)) {
    return write_dict(out, v, depth);
  } else {
    return false;
  }
  return true;
}

}  // namespace

std::vector<record> records_from_python(const py::handle& records) {
  py::list list = py::reinterpret_borrow<py::object>(records);  // a copy only when it is not a list
  return records_from_python(list, 0, py::len(list));
}

std::vector<record> records_from_python(const py::list& records, std::size_t begin, std::size_t end) {
  std::vector<record> out;
  records_from_python(records, begin, end, out);
  return out;
}

void records_from_python(const py::list& records, std::size_t begin, std::size_t end, std::vector<record>& out) {
  const keys& k = key_names();
  // Records already in `out` (a slice handed back for reuse) keep their memory: the strings and
  // vectors are assigned and resized, not allocated again.
  out.resize(end - begin);
  py::object dumps;  // backfill._canonical.dumps, imported when first needed
  std::size_t i = 0;
  for (std::size_t at = begin; at < end; ++at) {
    py::handle item = PyList_GET_ITEM(records.ptr(), static_cast<Py_ssize_t>(at));
    if (!PyDict_Check(item.ptr())) type_error("each record must be a dict with 'id' and 'values'");
    PyObject* d = item.ptr();
    record& r = out[i++];
    PyObject* id = PyDict_GetItemWithError(d, k.id);
    if (!id || !PyUnicode_Check(id)) {
      if (PyErr_Occurred()) throw py::error_already_set();
      type_error("each record needs an 'id' that is a str");
    }
    Py_ssize_t n = 0;
    const char* p = PyUnicode_AsUTF8AndSize(id, &n);
    if (!p) throw py::error_already_set();
    r.id.assign(p, static_cast<std::size_t>(n));
    PyObject* values = PyDict_GetItemWithError(d, k.values);
    if (!values) {
      if (PyErr_Occurred()) throw py::error_already_set();
      type_error("record " + r.id + " has no 'values'");
    }
    read_values(values, r.values, id);
    PyObject* metadata = PyDict_GetItemWithError(d, k.metadata);
    if (!metadata) {
      if (PyErr_Occurred()) throw py::error_already_set();
      r.metadata_json = "{}";
      continue;
    }
    r.metadata_json.clear();
    r.metadata_json.reserve(512);
    if (!write_json(r.metadata_json, metadata, 0)) {
      if (!dumps) dumps = py::module_::import("backfill._canonical").attr("dumps");
      r.metadata_json = dumps(py::handle(metadata)).cast<std::string>();
    }
  }
}

std::int64_t upsert_from_python(sink& target, const py::list& records) {
  const std::size_t n = py::len(records);
  // Records are converted in slices; while the sink encodes and sends slices on worker threads
  // (no GIL), the next is converted (GIL), so the two overlap instead of adding up. A sink whose
  // upserts may run at once gets three workers, so that one slice's last responses are awaited
  // while the next slices are already on the wire. At most two converted slices wait, so memory
  // stays bounded.
  // 512 records (two requests of 1536-float records): the first is on the wire after ~3 ms of
  // conversion, and the last one's acknowledgements are a short wait. Slices of 2,048 measured
  // ~15 % slower end to end for calls of 10,000 records (bench/README.md, Pinecone section).
  constexpr std::size_t slice = 512;
  if (n <= slice) {
    std::vector<record> rs = records_from_python(records, 0, n);
    py::gil_scoped_release nogil;  // encoding, sending and freeing the records need no GIL
    std::int64_t acked = target.upsert(rs);
    std::vector<record>().swap(rs);
    return acked;
  }
  std::mutex mutex;
  std::condition_variable changed;
  std::deque<std::vector<record>> ready;
  std::vector<std::vector<record>> spare;  // slices sent, handed back to be filled again
  bool finished = false;  // no more slices will come
  std::exception_ptr failure;
  std::int64_t acked = 0;
  auto work = [&] {
    while (true) {
      std::vector<record> batch;
      {
        std::unique_lock<std::mutex> lock(mutex);
        changed.wait(lock, [&] { return !ready.empty() || finished; });
        if (ready.empty()) return;
        batch = std::move(ready.front());
        ready.pop_front();
      }
      changed.notify_all();
      try {
        std::int64_t got = target.upsert(batch);
        std::lock_guard<std::mutex> lock(mutex);
        acked += got;
        if (spare.size() < 4) spare.push_back(std::move(batch));
      } catch (...) {
        std::lock_guard<std::mutex> lock(mutex);
        if (!failure) failure = std::current_exception();  // the first error wins
        finished = true;
        ready.clear();
        changed.notify_all();
        return;
      }
    }
  };
  std::vector<std::thread> workers;
  for (int w = 0, count = target.concurrent_upserts() ? 3 : 1; w < count; ++w) workers.emplace_back(work);
  auto finish = [&] {
    {
      std::lock_guard<std::mutex> lock(mutex);
      finished = true;
    }
    changed.notify_all();
    py::gil_scoped_release nogil;
    for (auto& t : workers) t.join();
  };
  try {
    for (std::size_t begin = 0; begin < n; begin += slice) {
      std::vector<record> batch;
      {
        std::lock_guard<std::mutex> lock(mutex);
        if (!spare.empty()) {
          batch = std::move(spare.back());
          spare.pop_back();
        }
      }
      records_from_python(records, begin, std::min(n, begin + slice), batch);
      py::gil_scoped_release nogil;
      std::unique_lock<std::mutex> lock(mutex);
      changed.wait(lock, [&] { return ready.size() < 2 || finished; });
      if (finished) break;  // the worker failed: its error is raised below
      ready.push_back(std::move(batch));
      lock.unlock();
      changed.notify_all();
    }
  } catch (...) {  // a record that cannot be read: what waits is not sent either
    {
      std::lock_guard<std::mutex> lock(mutex);
      ready.clear();
    }
    finish();
    throw;
  }
  finish();
  if (failure) std::rethrow_exception(failure);
  return acked;
}

}  // namespace backfill::python
