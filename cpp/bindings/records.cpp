// Records from Python ([{"id", "values", "metadata"}]) into core records: the part of Sink.upsert
// that needs the GIL. How the plain reader reads on helper threads without the GIL, and why, is in
// docs/architecture.md ("Reading records from Python").
#include <Python.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <functional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "backfill/core/json.hpp"
#include "backfill/core/json_tree.hpp"
#include "backfill/pack/record_reader.hpp"
#include "backfill/pack/upsert_feed.hpp"
#include "bindings.hpp"

namespace backfill::python {
namespace {

using pack::text_scratch;

struct keys {
  PyObject* id = PyUnicode_InternFromString("id");
  PyObject* values = PyUnicode_InternFromString("values");
  PyObject* metadata = PyUnicode_InternFromString("metadata");
};

const keys& key_names() {
  static const keys* k = new keys();  // kept for the life of the process
  return *k;
}

// ---- the plain reader: safe on a helper thread while the calling thread holds the GIL -----------

// The UTF-8 of an exact str, from its code points: `view` points into the str itself when it is
// ASCII, else into `scratch` (json::encode_utf8).
// False for a lone surrogate (not UTF-8) or a string not yet in the canonical form (only from
// deprecated APIs, before 3.12).
bool str_utf8(PyObject* s, std::string_view& view, std::string& scratch) {
#if PY_VERSION_HEX < 0x030C0000
  if (!PyUnicode_IS_READY(s)) return false;
#endif
  const Py_ssize_t n = PyUnicode_GET_LENGTH(s);
  if (PyUnicode_IS_COMPACT_ASCII(s)) {
    view = std::string_view(static_cast<const char*>(PyUnicode_DATA(s)), static_cast<std::size_t>(n));
    return true;
  }
  return json::encode_utf8(PyUnicode_DATA(s), PyUnicode_KIND(s), static_cast<std::size_t>(n), scratch, view);
}

// Metadata as a json_tree (core/json_tree.hpp writes it): exact dicts with str keys, str, float, int,
// bool, None, list and tuple. Anything else, a lone surrogate, a non-finite float (dumps raises its
// own ValueError) or an int beyond 64 bits ends the walk for the general reader.
struct python_tree {
  using node = PyObject*;
  using mark = std::size_t;
  text_scratch& scratch;
  json::value_kind kind_of(node v) const {
    using json::value_kind;
    if (PyUnicode_CheckExact(v)) return value_kind::string;
    if (v == Py_True) return value_kind::boolean_true;
    if (v == Py_False) return value_kind::boolean_false;
    if (v == Py_None) return value_kind::null;
    if (PyFloat_CheckExact(v) || PyLong_CheckExact(v)) return value_kind::number;
    if (PyList_CheckExact(v) || PyTuple_CheckExact(v)) return value_kind::array;
    return PyDict_CheckExact(v) ? value_kind::object : value_kind::other;
  }
  bool text(node v, std::string_view& s) const {
    const std::size_t kept = scratch.used;  // a value's text is written out before the next is read
    bool ok = str_utf8(v, s, scratch.next_text());
    scratch.used = kept;
    return ok;
  }
  bool number(std::string& out, node v) const {
    if (PyFloat_CheckExact(v)) {
      double d = PyFloat_AS_DOUBLE(v);
      if (std::isfinite(d)) json::append_float_repr(out, d);
      return std::isfinite(d);
    }
    int overflow = 0;
    long long n = PyLong_AsLongLongAndOverflow(v, &overflow);  // for an exact int: no error, no call
    char buf[24];
    out.append(buf, static_cast<std::size_t>(std::to_chars(buf, buf + sizeof buf, n).ptr - buf));
    return !overflow;
  }
  bool members(node d, std::vector<std::pair<std::string_view, node>>& fields) const {
    fields.reserve(static_cast<std::size_t>(PyDict_GET_SIZE(d)));
    PyObject *k, *v;
    Py_ssize_t pos = 0;
    while (PyDict_Next(d, &pos, &k, &v)) {
      std::string_view key;
      if (!PyUnicode_CheckExact(k) || !str_utf8(k, key, scratch.next_text())) return false;
      fields.emplace_back(key, v);
    }
    return true;
  }
  template <class F>
  bool elements(node v, F&& each) const {
    PyObject** items = PySequence_Fast_ITEMS(v);
    for (Py_ssize_t i = 0, n = PySequence_Fast_GET_SIZE(v); i < n; ++i)
      if (!each(items[i])) return false;
    return true;
  }
  mark keep() const { return scratch.used; }
  void release(mark m) const { scratch.used = m; }
};

// Values that are an exact list or tuple of exact floats.
bool read_plain_values(PyObject* obj, std::vector<float>& out) {
  if (!PyList_CheckExact(obj) && !PyTuple_CheckExact(obj)) return false;
  Py_ssize_t n = PySequence_Fast_GET_SIZE(obj);
  PyObject** items = PySequence_Fast_ITEMS(obj);
  out.resize(static_cast<std::size_t>(n));
  float* dst = out.data();
  for (Py_ssize_t i = 0; i < n; ++i) {
    // Each float is an object of its own: asking for the one 64 ahead (about a memory latency
    // of this loop) keeps loads in flight instead of one pointer chase at a time.
    if (i + 64 < n) __builtin_prefetch(items[i + 64]);
    PyObject* x = items[i];
    if (!Py_IS_TYPE(x, &PyFloat_Type)) return false;
    dst[i] = static_cast<float>(PyFloat_AS_DOUBLE(x));
  }
  return true;
}

bool same_key(PyObject* k, PyObject* name) {
  if (k == name) return true;  // interned: the usual case
  return PyUnicode_IS_COMPACT_ASCII(k) && PyUnicode_GET_LENGTH(k) == PyUnicode_GET_LENGTH(name) &&
         std::memcmp(PyUnicode_DATA(k), PyUnicode_DATA(name),
                     static_cast<std::size_t>(PyUnicode_GET_LENGTH(k))) == 0;
}

// A whole record, or false (and `r` in any state) for the general reader to do it again.
bool read_plain(PyObject* d, record& r, text_scratch& scratch) {
  if (!PyDict_CheckExact(d)) return false;
  const keys& names = key_names();
  PyObject *id = nullptr, *values = nullptr, *metadata = nullptr;
  PyObject *k, *v;
  Py_ssize_t pos = 0;
  while (PyDict_Next(d, &pos, &k, &v)) {
    if (!PyUnicode_CheckExact(k)) return false;  // the general reader's lookups may call its __eq__
    if (same_key(k, names.id))
      id = v;
    else if (same_key(k, names.values))
      values = v;
    else if (same_key(k, names.metadata))
      metadata = v;
  }
  if (!id || !values || !PyUnicode_CheckExact(id)) return false;
  std::string_view text;
  if (!str_utf8(id, text, scratch.next_text())) return false;
  r.id.assign(text);
  scratch.used = 0;
  if (!read_plain_values(values, r.values)) return false;
  r.metadata_json.clear();
  if (!metadata) {
    r.metadata_json = "{}";
    return true;
  }
  r.metadata_json.reserve(512);
  python_tree tree{scratch};
  bool ok = json::write_canonical(r.metadata_json, tree, metadata, 32);
  scratch.used = 0;
  return ok;
}

// ---- the general reader: the calling thread, with the GIL ---------------------------------------

}  // namespace

bool float32_buffer(PyObject* obj, std::vector<float>& out) {
  if (!PyObject_CheckBuffer(obj)) return false;
  Py_buffer view;
  if (PyObject_GetBuffer(obj, &view, PyBUF_FORMAT | PyBUF_C_CONTIGUOUS) != 0) {
    PyErr_Clear();
    return false;
  }
  std::string_view fmt = view.format ? view.format : "B";
  if (!fmt.empty() && (fmt.front() == '<' || fmt.front() == '=' || fmt.front() == '@')) fmt.remove_prefix(1);
  const bool ok = fmt == "f" && view.itemsize == 4;
  if (ok) {
    out.resize(static_cast<std::size_t>(view.len) / 4);
    std::memcpy(out.data(), view.buf, out.size() * 4);
  }
  PyBuffer_Release(&view);
  return ok;
}

namespace {

// A record the plain reader could not read whole, through backfill._canonical.record_parts, which
// raises naming the record at fault.
void read_general(PyObject* d, record& r, py::object& record_parts) {
  if (!record_parts) record_parts = py::module_::import("backfill._canonical").attr("record_parts");
  py::tuple parts = record_parts(py::handle(d));
  r.id = parts[0].cast<std::string>();
  if (!float32_buffer(parts[1].ptr(), r.values))
    throw py::type_error("record " + r.id + ": values are not a float32 buffer");
  r.metadata_json = parts[2].cast<std::string>();
}

// ---- records_from_python ---------------------------------------------------------------------

// Without a GIL (a free-threaded build) nothing keeps other threads off the objects: no helpers.
#ifdef Py_GIL_DISABLED
pack::record_reader reader_for(std::size_t) { return pack::record_reader(0); }
#else
pack::record_reader reader_for(std::size_t n) {
  return pack::record_reader(pack::record_reader::helpers_for(n));
}
#endif

// Records [begin, end) of `records` into `out`, read by this thread and the reader's helpers.
void records_from_python(const py::list& records, std::size_t begin, std::size_t end,
                         std::vector<record>& out, pack::record_reader& reader) {
  key_names();  // made here, with the GIL (interning is a Python call): the helpers only read them
  PyObject** items = PySequence_Fast_ITEMS(records.ptr()) + begin;
  py::object record_parts;  // imported when first needed
  reader.read(
      end - begin, out,
      [&](std::size_t i, record& r, text_scratch& scratch) { return read_plain(items[i], r, scratch); },
      [&](std::size_t i, record& r) {
        // Every helper is done: Python code may run (dumps, __float__, errors), and may even change
        // the list, so each record is looked up again and held while it is read.
        if (begin + i >= static_cast<std::size_t>(PyList_GET_SIZE(records.ptr())))
          throw py::value_error("the list of records changed while it was being read");
        py::object item = py::reinterpret_borrow<py::object>(PyList_GET_ITEM(records.ptr(), begin + i));
        read_general(item.ptr(), r, record_parts);
      });
}

}  // namespace

std::vector<record> records_from_python(const py::handle& records) {
  py::list list = py::reinterpret_borrow<py::object>(records);  // a copy only when it is not a list
  std::vector<record> out;
  const std::size_t n = py::len(list);
  pack::record_reader reader = reader_for(n);
  records_from_python(list, 0, n, out, reader);
  return out;
}

std::int64_t upsert_from_python(sink& target, const py::list& records) {
  // Slices are read here, with the GIL, while the core fits and sends the ones before without it.
  const std::size_t n = py::len(records);
  pack::record_reader reader = reader_for(n);
  return pack::upsert_in_slices(
      target, n,
      [&](std::size_t begin, std::size_t end, std::vector<record>& out) {
        records_from_python(records, begin, end, out, reader);
      },
      [](const std::function<void()>& fn) {
        py::gil_scoped_release nogil;
        fn();
      });
}

}  // namespace backfill::python
