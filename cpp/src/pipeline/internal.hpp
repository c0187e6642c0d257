// Pieces shared by the pipeline's phase implementations (pipeline.cpp, ingest.cpp).
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <exception>
#include <functional>
#include <filesystem>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_set>

#include "backfill/journal/journal.hpp"
#include "backfill/ledger/ledger.hpp"
#include "backfill/sources/source.hpp"

namespace backfill::detail {

std::string relative_to(const std::filesystem::path& path, const std::filesystem::path& base);
std::string recovery_hint(std::string_view partition);

// What a fetch running on another thread has done so far, for an ingest that follows it page by
// page. The fetch thread reports; the ingest thread waits.
class fetch_feed {
 public:
  void page_recorded() { bump(); }
  void partition_finished(std::string_view partition) {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      finished_.emplace(partition);
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
  bool done_ = false;
  std::exception_ptr error_;
  progress progress_;
};

// Journal pages of one partition, read in order; every body is checked against the hash the ledger
// recorded when the page was written, so a damaged page is never normalized. With a feed, pages
// are read as the fetch records them, until the fetch has finished the partition.
class journal_pages final : public page_reader {
 public:
  journal_pages(const journal& j, ledger& l, std::filesystem::path workdir, std::string source,
                std::string partition, fetch_feed* feed = nullptr, run_context* ctx = nullptr,
                std::function<void()> on_wait = {})
      : journal_(j), ledger_(l), workdir_(std::move(workdir)), source_(std::move(source)),
        partition_(std::move(partition)), feed_(feed), ctx_(ctx), on_wait_(std::move(on_wait)) {}

  void for_each(const std::function<void(std::int64_t, const std::string&, const std::string&)>& fn) override;
  void for_each_in(std::string_view partition,
                   const std::function<void(std::int64_t, const std::string&, const std::string&)>& fn) override;

 private:
  std::int64_t read_from(std::string_view partition, std::int64_t seq,
                         const std::function<void(std::int64_t, const std::string&, const std::string&)>& fn);

  const journal& journal_;
  ledger& ledger_;
  std::filesystem::path workdir_;
  std::string source_;
  std::string partition_;
  fetch_feed* feed_;
  run_context* ctx_;
  std::function<void()> on_wait_;  // before each checkpoint while waiting for the fetch
  std::string buffer_;
};

}  // namespace backfill::detail
