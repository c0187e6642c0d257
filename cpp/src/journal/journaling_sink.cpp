#include "backfill/journal/journaling_sink.hpp"

#include <algorithm>

#include <fmt/format.h>

#include "backfill/core/errors.hpp"
#include "backfill/core/failpoint.hpp"
#include "backfill/core/hash.hpp"
#include "backfill/http/client.hpp"
#include "backfill/http/scrub.hpp"

namespace backfill {
namespace fs = std::filesystem;
namespace {

// The page's path as the ledger records it, relative to the workdir. The journal makes every page path
// as workdir / "journal" / ..., so the lexical relation is the path's own: fs::relative would resolve
// both paths on disk first (a readlink and a stat for each of their components, every page).
std::string relative_to(const fs::path& path, const fs::path& base) {
  auto rel = path.lexically_relative(base);
  return rel.empty() ? path.string() : rel.string();
}

}  // namespace

void journaling_sink::resume_after(std::string last_page_hash, std::string_view cursor) {
  resume_hash_ = std::move(last_page_hash);
  resume_cursor_ = std::string(cursor);
  std::replace(resume_cursor_.begin(), resume_cursor_.end(), '\n', ' ');
}

void journaling_sink::page(std::string_view body, std::int64_t items, std::string_view next_cursor,
                           std::string_view watermark) {
  page_parts(std::span<const std::string_view>(&body, 1), items, next_cursor, watermark);
}

void journaling_sink::page_parts(std::span<const std::string_view> parts, std::int64_t items,
                                 std::string_view next_cursor, std::string_view watermark) {
  std::size_t size = 0;
  hasher h;  // the hash of the whole body, as one call over the joined parts would give it
  for (auto part : parts) {
    size += part.size();
    h.update(part);
  }
  const std::string hash = h.digest().hex();
  memory_budget::lease held;
  if (budget_ && budget_->total() > 0) held = budget_->take(2 * size, ctx_);
  if (!resume_hash_.empty()) {
    bool same = hash == resume_hash_;
    resume_hash_.clear();
    if (same)
      throw pagination_error(fmt::format(
          "{} {}: the server repeated itself: the page fetched with cursor '{}' (resuming after page {}) is "
          "identical to page {}; nothing was journaled. If the server is now fixed, `backfill fetch CONFIG "
          "--refetch {}` starts the partition again",
          source_, partition_,
          http::excerpt(resume_cursor_.find("://") != std::string::npos ? http::scrub_url(resume_cursor_)
                                                                        : resume_cursor_,
                        300),
          seq_ - 1, seq_ - 1, partition_));
  }
  fs::path path = journal_.write_page(source_, partition_, seq_, parts);
  failpoint("fetch.page_journaled");
  page_row row;
  row.source = source_;
  row.partition = partition_;
  row.seq = seq_;
  row.path = relative_to(path, workdir_);
  row.hash = hash;
  row.items = items;
  row.bytes = static_cast<std::int64_t>(size);
  ledger_.record_page(row, next_cursor, watermark);
  failpoint("fetch.page_committed");
  if (feed_) feed_->page_recorded(partition_);
  ++seq_;
  ++report_.pages_fetched;
  report_.items_fetched += items;
  report_.bytes_fetched += row.bytes;
  if (count_pages_) ++ctx_.state().done;
  ctx_.checkpoint();
}

}  // namespace backfill
