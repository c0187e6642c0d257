// A source made of functions: the data comes from code outside the core (the Python binding wraps
// a backfill.PythonSource's callables into these hooks; tests pass lambdas). Its pages hold ready-made
// documents (document_page.hpp), or raw items that the `documents` hook turns into such a page at
// ingest, so a changed normalization applies to the journal without fetching again. It gets the
// journal, resume, validation and receipts every source gets.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "backfill/core/fields.hpp"
#include "backfill/sources/document_page.hpp"
#include "backfill/sources/source.hpp"

namespace backfill {

// One page as the `pages` hook yields it: what page_sink::page takes.
struct callback_page {
  std::string body;
  std::int64_t items = 0;
  std::string next_cursor;  // "" on the last page
  std::string watermark;
};
BACKFILL_FIELDS(callback_page, &s::body, &s::items, &s::next_cursor, &s::watermark)

// Each hook may be called from several pipeline threads at once; what a hook throws leaves the source
// as it is. The optional ones (empty std::function) turn the matching feature off.
struct callback_source_hooks {
  // The next page of an open partition, or nullopt at its end.
  using page_stream = std::function<std::optional<callback_page>()>;

  std::function<std::vector<std::string>()> partitions;
  // Opens a partition's pages from `cursor` ("" = from the start).
  std::function<page_stream(std::string_view partition, std::string_view cursor)> pages;
  // Optional: a journaled page of raw items as a page of documents. Without it, pages hold documents.
  std::function<std::string(std::string_view partition, const std::string& body)> documents;
  // Optional: every id the partition holds now (enables reconcile).
  std::function<std::vector<std::string>(std::string_view partition)> list_ids;
  // Optional: where a finished partition resumes for its watermark (makes the source incremental).
  std::function<std::string(std::string_view partition, std::string_view watermark)> reopen;
};
BACKFILL_FIELDS(callback_source_hooks, &s::partitions, &s::pages, &s::documents, &s::list_ids, &s::reopen)

class callback_source final : public source {
 public:
  // `kind` names the source in the journal, the ledger and each document's `source`.
  callback_source(callback_source_hooks hooks, std::string kind, std::string description);

  std::string kind() const override { return kind_; }
  std::string describe() const override { return description_; }
  std::vector<partition_plan> plan(run_context& ctx) override;
  bool incremental() const override { return static_cast<bool>(hooks_.reopen); }
  std::string reopen_cursor(const partition_plan& partition, std::string_view watermark) override;
  void fetch(const partition_plan& partition, std::string_view cursor, page_sink& out,
             run_context& ctx) override;
  void page_items(std::string_view partition, const std::string& body, const item_fn& fn) override;
  // Pages of documents are laid out as document_page.hpp says; pages a `documents` hook turns into
  // them are the source's own.
  json::item_layout journal_items(std::string_view) const override {
    return hooks_.documents ? json::item_layout{} : document_page_layout();
  }
  bool can_list_ids() const override { return static_cast<bool>(hooks_.list_ids); }
  void list_ids(const partition_plan& partition, const item_fn& fn, run_context& ctx) override;
  bool pages_self_contained() const override { return true; }
  void normalize(std::string_view partition, page_reader& pages, const document_fn& emit,
                 run_context& ctx) override;

 private:
  // Calls fn with the page of documents a journaled page stands for.
  void with_documents(std::string_view partition, const std::string& body,
                      const std::function<void(const std::string&)>& fn) const;

  callback_source_hooks hooks_;
  std::string kind_, description_;
};

}  // namespace backfill
