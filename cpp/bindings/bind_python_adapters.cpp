// A source and a sink written in Python (backfill.PythonSource, backfill.PythonSink) behind the core's
// contracts, so they get the journal, resume, validation, verification and receipts of the native ones.
// The facade (python/backfill/sources/python.py, sinks/python.py) calls the user's code, checks what
// it returns and hands over plain values: pages as JSON text of documents (document_page.hpp), records
// as (id, values, metadata JSON) tuples. These classes only convert; every call goes through
// call_python, which holds the GIL for the call alone.
#include <pybind11/stl.h>

#include <optional>
#include <tuple>

#include "backfill/sinks/sink.hpp"
#include "backfill/sources/document_page.hpp"
#include "python_call.hpp"

namespace backfill::python {
namespace {

class python_source final : public source {
 public:
  python_source(py::object hooks, std::string kind, std::string description, bool normalizes, bool lists_ids,
                bool reopens)
      : hooks_(share(std::move(hooks))), kind_(std::move(kind)), description_(std::move(description)),
        who_("the Python source " + kind_), normalizes_(normalizes), lists_ids_(lists_ids), reopens_(reopens) {}

  std::string kind() const override { return kind_; }
  std::string describe() const override { return description_; }

  std::vector<partition_plan> plan(run_context&) override {
    auto names = call("partitions", [&] { return hooks("partitions")().cast<std::vector<std::string>>(); });
    std::vector<partition_plan> out;
    for (auto& name : names) out.push_back({name, name, -1, -1});
    return out;
  }

  bool incremental() const override { return reopens_; }
  std::string reopen_cursor(const partition_plan& p, std::string_view watermark) override {
    return call("reopen", [&] { return hooks("reopen")(p.name, watermark).cast<std::string>(); });
  }

  void fetch(const partition_plan& p, std::string_view cursor, page_sink& out, run_context& ctx) override {
    using page = std::tuple<std::string, std::int64_t, std::string, std::string>;
    shared_object pages = call("pages", [&] { return share(py::iter(hooks("pages")(p.name, cursor))); });
    for (;;) {
      ctx.checkpoint();
      auto next = call("pages", [&]() -> std::optional<page> {
        auto item = py::reinterpret_steal<py::object>(PyIter_Next(pages->ptr()));
        if (!item && PyErr_Occurred()) throw py::error_already_set();
        if (!item) return std::nullopt;
        return item.cast<page>();
      });
      if (!next) return;
      auto& [body, items, next_cursor, watermark] = *next;
      out.page(body, items, next_cursor, watermark);
    }
  }

  void page_items(std::string_view partition, const std::string& body, const item_fn& fn) override {
    document_page_ids(normalizes_ ? documents(partition, body) : body, fn);
  }

  bool can_list_ids() const override { return lists_ids_; }
  void list_ids(const partition_plan& p, const item_fn& fn, run_context&) override {
    auto ids = call("list_ids", [&] { return hooks("list_ids")(p.name).cast<std::vector<std::string>>(); });
    for (const auto& id : ids) fn(id);
  }

  bool pages_self_contained() const override { return true; }
  void normalize(std::string_view partition, page_reader& pages, const document_fn& emit, run_context& ctx) override {
    pages.for_each([&](std::int64_t, const std::string& body, const std::string&) {
      read_document_page(normalizes_ ? documents(partition, body) : body, kind_, partition, emit);
      ctx.checkpoint();
    });
  }

 private:
  py::object hooks(const char* name) const { return hooks_->attr(name); }
  template <class F>
  auto call(const char* hook, F&& f) const -> decltype(f()) {
    return call_python<source_error>(who_ + " (" + hook + ")", std::forward<F>(f));
  }
  std::string documents(std::string_view partition, const std::string& body) const {
    return call("normalize", [&] { return hooks("documents")(partition, py::str(body)).cast<std::string>(); });
  }

  shared_object hooks_;
  std::string kind_, description_, who_;
  bool normalizes_, lists_ids_, reopens_;
};

class python_sink final : public sink {
 public:
  python_sink(py::object hooks, std::string name, std::string description, std::size_t batch_size,
              std::size_t metadata_limit, bool queries)
      : hooks_(share(std::move(hooks))), name_(std::move(name)), description_(std::move(description)),
        who_("the Python sink " + name_), batch_size_(batch_size), metadata_limit_(metadata_limit), queries_(queries) {}

  std::string kind() const override { return "python"; }
  std::string identity() const override { return "python:" + name_; }
  std::string describe() const override { return description_; }
  std::size_t metadata_limit() const override { return metadata_limit_; }
  std::size_t max_batch() const override { return batch_size_; }

  std::int64_t upsert(const std::vector<record>& records) override {
    return call("upsert", [&] {
      py::list rows(records.size());
      for (std::size_t i = 0; i < records.size(); ++i)
        rows[i] = py::make_tuple(records[i].id, records[i].values, records[i].metadata_json);
      return hooks("upsert")(rows).cast<std::int64_t>();
    });
  }

  std::vector<fetched_record> fetch(const std::vector<std::string>& ids) override {
    using row = std::tuple<std::string, std::vector<float>, std::string>;
    auto rows = call("fetch", [&] { return hooks("fetch")(ids).cast<std::vector<row>>(); });
    std::vector<fetched_record> out;
    out.reserve(rows.size());
    for (auto& [id, values, meta] : rows) out.push_back({std::move(id), std::move(values), std::move(meta)});
    return out;
  }

  void remove(const std::vector<std::string>& ids) override {
    call("delete", [&] { hooks("delete")(ids); });
  }

  std::vector<std::string> list(std::string_view prefix, std::string_view after, std::size_t limit) override {
    return call("list", [&] { return hooks("list")(prefix, after, limit).cast<std::vector<std::string>>(); });
  }

  sink_stats stats() override {
    auto [count, dimension] = call("stats", [&] { return hooks("stats")().cast<std::pair<std::int64_t, int>>(); });
    return {count, dimension};
  }

  std::vector<query_match> query(const std::vector<float>& vector, std::size_t top_k) override {
    if (!queries_) throw sink_error(who_ + " has no query function; give PythonSink(query=...) to search it");
    using row = std::tuple<std::string, double, std::string>;
    auto rows = call("query", [&] { return hooks("query")(vector, top_k).cast<std::vector<row>>(); });
    std::vector<query_match> out;
    for (auto& [id, score, meta] : rows) out.push_back({std::move(id), score, std::move(meta)});
    return out;
  }

 private:
  py::object hooks(const char* name) const { return hooks_->attr(name); }
  template <class F>
  auto call(const char* hook, F&& f) const -> decltype(f()) {
    return call_python<sink_error>(who_ + " (" + hook + ")", std::forward<F>(f));
  }

  shared_object hooks_;
  std::string name_, description_, who_;
  std::size_t batch_size_, metadata_limit_;
  bool queries_;
};

}  // namespace

void register_python_adapters(py::module_& m) {
  register_python_exceptions();
  py::class_<python_source, source, std::shared_ptr<python_source>>(m, "PythonSource")
      .def(py::init<py::object, std::string, std::string, bool, bool, bool>(), py::arg("hooks"), py::arg("kind"),
           py::arg("description"), py::arg("normalizes"), py::arg("lists_ids"), py::arg("reopens"));
  py::class_<python_sink, sink, std::shared_ptr<python_sink>>(m, "PythonSink")
      .def(py::init<py::object, std::string, std::string, std::size_t, std::size_t, bool>(), py::arg("hooks"),
           py::arg("name"), py::arg("description"), py::arg("batch_size"), py::arg("metadata_limit"),
           py::arg("queries"));
}

}  // namespace backfill::python
