#include "backfill/journal/journal_pages.hpp"

#include <chrono>
#include <utility>

#include <fmt/format.h>

#include "backfill/core/errors.hpp"
#include "backfill/core/hash.hpp"
#include "backfill/core/padded_json.hpp"

namespace backfill {
namespace fs = std::filesystem;

std::string recovery_hint(std::string_view partition) {
  return fmt::format(
      "refetch it with `backfill fetch CONFIG --refetch {}` (Python: pipeline.fetch(refetch=[\"{}\"]))",
      partition, partition);
}

std::int64_t journal_pages::read_from(
    std::string_view partition, std::int64_t seq,
    const std::function<void(std::int64_t, const std::string&, const std::string&)>& fn, bool hold_newest) {
  std::vector<page_row> pages = ledger_.pages(source_, partition, seq);
  if (hold_newest && !pages.empty()) pages.pop_back();
  for (const auto& page : pages) {
    fs::path path = workdir_ / page.path;
    try {
      journal_.read_page(path, *buffer_);
    } catch (const journal_error& e) {
      throw journal_error(fmt::format("{}; {}", e.what(), recovery_hint(partition)), path.string());
    }
    if (hash_hex(*buffer_) != page.hash)
      throw journal_error(fmt::format("journal page {} is damaged ({} bytes on disk, {} when written); {}",
                                      page.path, buffer_->size(), page.bytes, recovery_hint(partition)),
                          path.string());
    const std::string* body = buffer_;
    if (held_) {
      std::vector<json::unreadable_item> bad;
      body = &json::readable(*buffer_, layout_, mended_, bad);
      for (auto& b : bad)
        held_->push_back({std::string(partition), page.path, static_cast<std::int64_t>(b.position),
                          std::move(b.id), "the item " + std::move(b.reason)});
    }
    partition_read_ = partition;
    page_read_ = page.path;
    struct dropped {  // the check's parse of this page serves only this page's reader
      ~dropped() { json::drop_page_parse(); }
    } drop;
    if (on_checked_) on_checked_(partition, page, *body);
    fn(page.seq, *body, page.path);
    if (counting_ && feed_ && partition == partition_) feed_->page_read(partition, page.seq);
    if (counting_ && pages_read_ && page.seq >= counted_to_) {  // a source may read its pages twice
      ++*pages_read_;
      counted_to_ = page.seq + 1;
    }
    seq = page.seq + 1;
  }
  return seq;
}

void journal_pages::for_each(
    const std::function<void(std::int64_t, const std::string&, const std::string&)>& fn) {
  struct counting {
    bool& flag;
    explicit counting(bool& f) : flag(f) { flag = true; }
    ~counting() { flag = false; }
  } scope(counting_);
  if (!feed_) {
    read_from(partition_, 0, fn, false);
    return;
  }
  // Follow a fetch in progress: read what is recorded, wait for more, until the fetch has finished
  // the partition (then read once more: pages recorded just before it said so). The newest page
  // waits until the page after it has passed the pagination guard, or the partition has ended other
  // than by the guard refusing that page: page 1 of a server that repeats itself (a cursor that
  // does not advance, a page or ids served again) is never embedded. A partition of one page, or the
  // last page of any, goes on as soon as the fetch says the partition is done.
  std::int64_t seq = 0;
  for (;;) {
    std::uint64_t version = feed_->version();
    bool finished = feed_->finished(partition_);
    const bool hold_newest = !finished || feed_->refused(partition_);
    std::int64_t next = read_from(partition_, seq, fn, hold_newest);
    if (next == seq && finished) return;
    // Nothing recorded since `version` was read (before the ledger was asked): what the ledger has
    // beyond `next` is the held newest page at most, so asking again before the fetch reports more
    // would only find that again. Unless the partition is done (then one more read confirms the end).
    const bool caught_up = next == seq || (!finished && feed_->version() == version);
    if (caught_up) {
      const auto start = std::chrono::steady_clock::now();
      feed_->wait(version, std::chrono::milliseconds(50));
      if (waited_)
        *waited_ += std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      if (on_wait_) on_wait_();
      if (ctx_) ctx_->checkpoint();
    }
    seq = next;
  }
}

void journal_pages::skip_item(std::size_t position, std::string id, std::string reason) {
  if (!held_) return page_reader::skip_item(position, std::move(id), std::move(reason));
  held_->push_back(
      {partition_read_, page_read_, static_cast<std::int64_t>(position), std::move(id), std::move(reason)});
}

void journal_pages::for_each_in(
    std::string_view partition,
    const std::function<void(std::int64_t, const std::string&, const std::string&)>& fn) {
  const bool was = std::exchange(counting_, false);
  read_from(partition, 0, fn, false);
  counting_ = was;
}

}  // namespace backfill
