// Where a source's fetched pages go: the page_sink the pipeline hands a source's fetch.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>

#include "backfill/core/context.hpp"
#include "backfill/core/memory_budget.hpp"
#include "backfill/journal/fetch_feed.hpp"
#include "backfill/journal/journal.hpp"
#include "backfill/ledger/ledger.hpp"
#include "backfill/pipeline/reports.hpp"
#include "backfill/sources/source.hpp"

namespace backfill {

// Journals each page, then records it and its cursor in the ledger: a page is durable before its
// cursor moves, so a crash anywhere re-reads at most the one page that was not yet recorded.
class journaling_sink final : public page_sink {
 public:
  journaling_sink(const journal& j, ledger& l, const std::filesystem::path& workdir, std::string source,
                  std::string partition, std::int64_t next_seq, fetch_report& report, run_context& ctx,
                  fetch_feed* feed)
      : journal_(j),
        ledger_(l),
        workdir_(workdir),
        source_(std::move(source)),
        partition_(std::move(partition)),
        seq_(next_seq),
        report_(report),
        ctx_(ctx),
        feed_(feed) {}

  // A fetch that resumes mid-partition: the page before it, which the guard of this process never saw.
  void resume_after(std::string last_page_hash, std::string_view cursor);
  // Each page takes its bytes from `budget` until it is journaled, twice over (the page and the next
  // one, requested before this one was handed over): a partition waits there while the budget is
  // full, so partitions fetched at once hold no more than it allows beyond one page each.
  void hold_pages_in(memory_budget* budget) noexcept { budget_ = budget; }
  // Whether each page counts one done in ctx's progress (no: the fetch counts partitions).
  void count_pages_done(bool yes) noexcept { count_pages_ = yes; }

  void page(std::string_view body, std::int64_t items, std::string_view next_cursor,
            std::string_view watermark) override;
  void page_parts(std::span<const std::string_view> parts, std::int64_t items, std::string_view next_cursor,
                  std::string_view watermark) override;

 private:
  const journal& journal_;
  ledger& ledger_;
  const std::filesystem::path& workdir_;
  std::string source_;
  std::string partition_;
  std::int64_t seq_;
  fetch_report& report_;
  run_context& ctx_;
  fetch_feed* feed_;
  memory_budget* budget_ = nullptr;
  bool count_pages_ = true;
  std::string resume_hash_;
  std::string resume_cursor_;
};

}  // namespace backfill
