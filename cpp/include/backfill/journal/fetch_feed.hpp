// What a fetch running on another thread has journaled so far, for an ingest that follows it page by
// page. The fetch thread reports; the ingest thread waits.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <exception>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "backfill/core/context.hpp"

namespace backfill {

class fetch_feed {
 public:
  // The ingest reads the partitions page by page in this order (a source whose pages stand alone):
  // the fetch is then paced by it (ahead()). Without an order, the fetch never waits.
  void follow(const std::vector<std::string>& order) {
    std::lock_guard<std::mutex> lock(mutex_);
    order_.assign(order.size(), {});
    index_.clear();
    for (std::size_t i = 0; i < order.size(); ++i) index_.emplace(order[i], i);
    lead_ = 0;
    ready_ = 0;
    advance_lead();
  }

  // The fetch of `partition` begins; its pages from `first_seq` on are this run's.
  void partition_started(std::string_view partition, std::int64_t first_seq) {
    std::lock_guard<std::mutex> lock(mutex_);
    if (auto* f = find(partition)) {
      f->first_seq = first_seq;
      f->started = true;
    }
  }
  void page_recorded(std::string_view partition) {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      if (auto i = index_of(partition)) {
        ++order_[*i].recorded;
        if (*i <= lead_) ++ready_;
      }
    }
    bump();
  }
  // The ingest has read page `seq` of `partition`.
  void page_read(std::string_view partition, std::int64_t seq) {
    bool counted = false;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      auto i = index_of(partition);
      if (i && order_[*i].started && seq >= order_[*i].first_seq) {
        ++order_[*i].read;
        if (*i <= lead_) --ready_;
        counted = true;
      }
    }
    if (counted) bump();
  }

  // Whether the fetch of `partition` may wait before its next request: the ingest has at least
  // `enough` pages journaled and not yet read ahead of it, in the partitions up to the first one
  // whose fetch has not finished (the lead), and `partition` is not the lead. The lead never waits,
  // and the ingest reads nothing past the lead before the lead is done, so a wait never holds back
  // what the ingest waits for. A fetch slower than the ingest never has `enough` ready: every
  // partition is then fetched at once, as fast as the source allows.
  bool ahead(std::string_view partition, std::int64_t enough) {
    std::lock_guard<std::mutex> lock(mutex_);
    if (order_.empty() || done_ || abort.load(std::memory_order_relaxed)) return false;
    auto i = index_of(partition);
    return i && *i > lead_ && ready_ >= enough;  // before the lead: finished, nothing to hold
  }
  void partition_finished(std::string_view partition) {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      finished_.emplace(partition);
      if (auto i = index_of(partition)) order_[*i].finished = true;
      advance_lead();
    }
    bump();
  }
  // The pagination guard refused a page of `partition` (its server repeated itself): the page
  // journaled before it is not ingested (journal_pages holds a partition's newest page until the
  // next one has passed the guard), so a cursor that repeats costs no embedding.
  void partition_refused(std::string_view partition) {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      refused_.emplace(partition);
    }
    bump();
  }
  // The fetch ended: completely (error == nullptr) or with an error.
  void finish(std::exception_ptr error) {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      done_ = true;
      error_ = std::move(error);
    }
    bump();
  }

  bool finished(std::string_view partition) {
    std::lock_guard<std::mutex> lock(mutex_);
    return done_ || finished_.count(std::string(partition)) > 0;
  }
  bool refused(std::string_view partition) {
    std::lock_guard<std::mutex> lock(mutex_);
    return refused_.count(std::string(partition)) > 0;
  }
  bool done() {
    std::lock_guard<std::mutex> lock(mutex_);
    return done_;
  }
  std::exception_ptr error() {
    std::lock_guard<std::mutex> lock(mutex_);
    return error_;
  }
  std::uint64_t version() {
    std::lock_guard<std::mutex> lock(mutex_);
    return version_;
  }
  // Waits until something changes after `seen` (a version()), or `timeout` passes.
  void wait(std::uint64_t seen, std::chrono::milliseconds timeout) {
    std::unique_lock<std::mutex> lock(mutex_);
    changed_.wait_for(lock, timeout, [&] { return version_ != seen; });
  }

  // The fetch's progress, as its context last ticked, for the thread that shows progress.
  void publish(const progress& p) {
    std::lock_guard<std::mutex> lock(mutex_);
    progress_ = p;
  }
  progress published() {
    std::lock_guard<std::mutex> lock(mutex_);
    return progress_;
  }

  // Set by the ingest side when it stops early: the fetch stops at its next checkpoint.
  std::atomic<bool> abort{false};

 private:
  struct followed {
    std::int64_t first_seq = 0;
    std::int64_t recorded = 0;  // pages journaled by this run's fetch
    std::int64_t read = 0;      // of those, pages the ingest has read
    bool started = false;
    bool finished = false;
  };
  std::optional<std::size_t> index_of(std::string_view partition) const {
    auto it = index_.find(std::string(partition));
    if (it == index_.end()) return std::nullopt;
    return it->second;
  }
  followed* find(std::string_view partition) {
    auto i = index_of(partition);
    return i ? &order_[*i] : nullptr;
  }
  // The lead moves past finished partitions; what they hold unread joins what is ready.
  void advance_lead() {
    while (lead_ < order_.size() && order_[lead_].finished) {
      ++lead_;
      if (lead_ < order_.size()) ready_ += order_[lead_].recorded - order_[lead_].read;
    }
  }
  void bump() {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      ++version_;
    }
    changed_.notify_all();
  }
  std::mutex mutex_;
  std::condition_variable changed_;
  std::uint64_t version_ = 0;
  std::unordered_set<std::string> finished_;
  std::unordered_set<std::string> refused_;
  std::vector<followed> order_;
  std::unordered_map<std::string, std::size_t> index_;
  std::size_t lead_ = 0;    // the first partition in order_ whose fetch has not finished
  std::int64_t ready_ = 0;  // pages journaled and not read, in order_[0..lead_]
  bool done_ = false;
  std::exception_ptr error_;
  progress progress_;
};

}  // namespace backfill
