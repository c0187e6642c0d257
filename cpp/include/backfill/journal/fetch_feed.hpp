// What a fetch running on another thread has journaled so far, for an ingest that follows it page by
// page. The fetch thread reports; the ingest thread waits.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <exception>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_set>

#include "backfill/core/context.hpp"

namespace backfill {

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
  bool done_ = false;
  std::exception_ptr error_;
  progress progress_;
};

}  // namespace backfill
