#include "backfill/pack/upsert_feed.hpp"

#include <algorithm>
#include <string>
#include <utility>

#include <fmt/format.h>

#include "backfill/core/log.hpp"
#include "backfill/pack/sanitize.hpp"

namespace backfill::pack {
namespace {

std::string describe_changes(const sanitize_report& r) {
  std::string what;
  auto add = [&](const std::map<std::string, std::int64_t>& fields, const char* verb) {
    for (auto& [k, n] : fields) what += fmt::format("{}{} {} in {}", what.empty() ? "" : ", ", k, verb, n);
  };
  add(r.truncated, "truncated");
  add(r.dropped, "dropped");
  add(r.flattened, "flattened");
  add(r.converted, "converted");
  return what;
}

}  // namespace

std::size_t fit_records(const sink& target, std::vector<record>& records) {
  const std::size_t limit = target.metadata_limit();
  if (!limit) return 0;
  sanitize_options options;
  options.max_bytes = limit;
  sanitize_report report;
  std::size_t kept = 0;
  for (std::size_t i = 0; i < records.size(); ++i) {
    if (!fit_metadata(records[i].metadata_json, options, report)) {
      logger()->error("{}: the metadata of record {} cannot be fitted to {} bytes; not sent",
                      target.describe(), records[i].id, limit);
      continue;
    }
    if (kept != i) std::swap(records[kept], records[i]);
    ++kept;
  }
  if (!report.empty())
    logger()->warn("{}: metadata fitted to the sink's limit: {}", target.describe(),
                   describe_changes(report));
  const std::size_t removed = records.size() - kept;
  records.resize(kept);
  return removed;
}

std::int64_t upsert_fitted(sink& target, std::vector<record>& records) {
  fit_records(target, records);
  if (records.empty()) return 0;
  return target.upsert(records);
}

upsert_feed::upsert_feed(sink& target) : target_(target) {
  for (int w = 0, count = target.concurrent_upserts() ? 3 : 1; w < count; ++w)
    workers_.spawn([this] { work(); });
}

upsert_feed::~upsert_feed() { abort(); }

void upsert_feed::work() {
  while (true) {
    std::vector<record> slice;
    {
      std::unique_lock<std::mutex> lock(mutex_);
      changed_.wait(lock, [&] { return !ready_.empty() || finished_; });
      if (ready_.empty()) return;
      slice = std::move(ready_.front());
      ready_.pop_front();
    }
    changed_.notify_all();
    try {
      std::int64_t got = upsert_fitted(target_, slice);
      std::lock_guard<std::mutex> lock(mutex_);
      acked_ += got;
      if (spare_.size() < 4) spare_.push_back(std::move(slice));
    } catch (...) {
      {
        std::lock_guard<std::mutex> lock(mutex_);
        failed_ = finished_ = true;
        ready_.clear();
      }
      changed_.notify_all();
      throw;  // carried to finish() by the task group
    }
  }
}

std::vector<record> upsert_feed::spare() {
  std::lock_guard<std::mutex> lock(mutex_);
  if (spare_.empty()) return {};
  std::vector<record> out = std::move(spare_.back());
  spare_.pop_back();
  return out;
}

bool upsert_feed::push(std::vector<record> slice) {
  std::unique_lock<std::mutex> lock(mutex_);
  changed_.wait(lock, [&] { return ready_.size() < 2 || finished_; });
  if (failed_ || finished_) return false;
  ready_.push_back(std::move(slice));
  lock.unlock();
  changed_.notify_all();
  return true;
}

std::int64_t upsert_feed::finish() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    finished_ = true;
  }
  changed_.notify_all();
  workers_.wait();  // rethrows a worker's error
  std::lock_guard<std::mutex> lock(mutex_);
  return acked_;
}

void upsert_feed::abort() noexcept {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    finished_ = true;
    ready_.clear();
  }
  changed_.notify_all();
  try {
    workers_.wait();
  } catch (...) {  // the caller's own error is the one raised
  }
}

std::int64_t upsert_in_slices(sink& target, std::size_t count, const fill_fn& fill,
                              const unlocked_fn& unlocked) {
  // 512 records (two requests of 1536-float records): the first is on the wire after ~3 ms of
  // reading from Python, and the last one's acknowledgements are a short wait. Slices of 2,048
  // measured ~15 % slower end to end for calls of 10,000 records (bench/README.md, Pinecone section).
  constexpr std::size_t slice = 512;
  std::int64_t acked = 0;
  if (count <= slice) {
    std::vector<record> records;
    fill(0, count, records);
    unlocked([&] {
      acked = upsert_fitted(target, records);
      std::vector<record>().swap(records);  // freed here too
    });
    return acked;
  }
  upsert_feed feed(target);
  try {
    for (std::size_t begin = 0; begin < count; begin += slice) {
      std::vector<record> batch = feed.spare();
      fill(begin, std::min(count, begin + slice), batch);
      bool more = true;
      unlocked([&] { more = feed.push(std::move(batch)); });
      if (!more) break;  // a worker failed: finish() raises its error
    }
  } catch (...) {  // a slice that cannot be filled: what waits is not sent either
    unlocked([&] { feed.abort(); });
    throw;
  }
  unlocked([&] { acked = feed.finish(); });
  return acked;
}

}  // namespace backfill::pack
