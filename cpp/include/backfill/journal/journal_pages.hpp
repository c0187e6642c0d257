// Reading journaled pages back for normalizing: the page_reader the pipeline hands a source.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "backfill/core/context.hpp"
#include "backfill/journal/fetch_feed.hpp"
#include "backfill/journal/journal.hpp"
#include "backfill/ledger/ledger.hpp"
#include "backfill/sources/source.hpp"

namespace backfill {

// What to tell a user whose journaled partition is damaged: how to fetch it again.
std::string recovery_hint(std::string_view partition);

// Journal pages of one partition, read in order; every body is checked against the hash the ledger
// recorded when the page was written, so a damaged page is never normalized. With a feed, pages
// are read as the fetch records them, each once the next one has passed the pagination guard (or
// the partition has ended), until the fetch has finished the partition.
class journal_pages final : public page_reader {
 public:
  journal_pages(const journal& j, ledger& l, std::filesystem::path workdir, std::string source,
                std::string partition, fetch_feed* feed = nullptr, run_context* ctx = nullptr,
                std::function<void()> on_wait = {})
      : journal_(j),
        ledger_(l),
        workdir_(std::move(workdir)),
        source_(std::move(source)),
        partition_(std::move(partition)),
        feed_(feed),
        ctx_(ctx),
        on_wait_(std::move(on_wait)) {}

  void for_each(const std::function<void(std::int64_t, const std::string&, const std::string&)>& fn) override;
  void for_each_in(
      std::string_view partition,
      const std::function<void(std::int64_t, const std::string&, const std::string&)>& fn) override;
  // Counts every page of the partition once it has been handed on (ingest's progress, in pages).
  void count_pages_into(std::int64_t* n) noexcept { pages_read_ = n; }
  // Adds the seconds spent waiting for the fetch to record more pages to `*seconds`.
  void count_waits_into(double* seconds) noexcept { waited_ = seconds; }
  // Quarantine instead of failing: a page that does not parse is handed on with its unreadable
  // items null (laid out as `layout` says), and those items, and the ones the normalizer skips, are
  // appended to `held`. Without it, such a page fails the partition.
  void quarantine_into(json::item_layout layout, std::vector<quarantined_item>* held) {
    layout_ = std::move(layout);
    held_ = held;
  }
  void skip_item(std::size_t position, std::string id, std::string reason) override;
  // Called with every page after its checks (its hash, and with quarantine its items), before it is
  // handed on: the page's partition, its ledger row and its body as handed on.
  using page_fn = std::function<void(std::string_view, const page_row&, const std::string&)>;
  void on_checked_page(page_fn fn) { on_checked_ = std::move(fn); }

  journal_pages(const journal_pages&) = delete;  // buffer_ may point into it
  journal_pages& operator=(const journal_pages&) = delete;

  // Reads the pages into `buffer` (which must outlive the reading) instead of one of its own: a
  // buffer kept from partition to partition is not faulted in again for each one's first page.
  void read_into(std::string& buffer) noexcept { buffer_ = &buffer; }

 private:
  // Hands on the recorded pages from `seq` (but the newest one, with `hold_newest`); the next seq.
  std::int64_t read_from(std::string_view partition, std::int64_t seq,
                         const std::function<void(std::int64_t, const std::string&, const std::string&)>& fn,
                         bool hold_newest);

  const journal& journal_;
  ledger& ledger_;
  std::filesystem::path workdir_;
  std::string source_;
  std::string partition_;
  fetch_feed* feed_;
  run_context* ctx_;
  std::function<void()> on_wait_;  // before each checkpoint while waiting for the fetch
  std::int64_t* pages_read_ = nullptr;
  double* waited_ = nullptr;
  std::int64_t counted_to_ = 0;  // the pages below this seq are counted
  bool counting_ = false;        // reading the own partition (for_each), not a neighbour (for_each_in)
  std::string own_buffer_;
  std::string* buffer_ = &own_buffer_;
  json::item_layout layout_;
  std::vector<quarantined_item>* held_ = nullptr;
  std::string partition_read_, page_read_;  // the page being handed on
  std::string mended_;
  page_fn on_checked_;
};

}  // namespace backfill
