// The run's working memory, in bytes (pipeline_options::memory_budget_mb). Whatever a stage holds
// that grows with the data (a fetched page until it is journaled, a batch of records until it is
// written) is taken from the budget before it is held on, and given back once it is released. A
// taker waits while its bytes do not fit beside what others hold; when nothing is held, it goes
// through whatever its size, so one item larger than the budget is never a deadlock: it runs alone.
// The peak of what was held at once is kept for the run's report. A part of the budget can be set
// aside for what is not a stage's (the idle buffers core/kept_buffers.hpp keeps for reuse): takers
// then fit in what is left.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <optional>

#include "backfill/core/context.hpp"

namespace backfill {

class memory_budget {
 public:
  // Bytes given back when destroyed (or by release()); empty when default-made or moved from.
  class lease {
   public:
    lease() = default;
    lease(lease&& other) noexcept : budget_(other.budget_), bytes_(other.bytes_) { other.budget_ = nullptr; }
    lease& operator=(lease&& other) noexcept;
    lease(const lease&) = delete;
    lease& operator=(const lease&) = delete;
    ~lease() { release(); }

    void release() noexcept;
    std::size_t bytes() const noexcept { return budget_ ? bytes_ : 0; }

   private:
    friend class memory_budget;
    lease(memory_budget* b, std::size_t bytes) : budget_(b), bytes_(bytes) {}
    memory_budget* budget_ = nullptr;
    std::size_t bytes_ = 0;
  };

  // 0 bytes: no limit (everything fits; the peak is still counted).
  explicit memory_budget(std::size_t bytes) : total_(bytes) {}
  memory_budget(const memory_budget&) = delete;
  memory_budget& operator=(const memory_budget&) = delete;

  // Waits, checking `ctx` (a stop throws backfill::cancelled), until `bytes` fit.
  lease take(std::size_t bytes, run_context& ctx);
  // Takes `bytes` now when they fit, for a taker that waits on its own conditions too.
  std::optional<lease> try_take(std::size_t bytes);

  std::size_t total() const noexcept { return total_; }
  // Sets `bytes` of the total aside (at most the total; 0: none): takers fit beside them.
  void set_aside(std::size_t bytes);
  std::size_t aside() const;
  std::size_t held() const;
  std::size_t peak() const;
  // Starts counting the peak again from what is held now (a new phase).
  void reset_peak();
  // Takers that had to wait for bytes to come back.
  std::int64_t waits() const;

 private:
  bool fits(std::size_t bytes) const noexcept {
    return total_ == 0 || held_ == 0 || held_ + aside_ + bytes <= total_;
  }
  void grant(std::size_t bytes) noexcept;
  void give_back(std::size_t bytes) noexcept;

  const std::size_t total_;
  mutable std::mutex mutex_;
  std::condition_variable freed_;
  std::size_t held_ = 0;
  std::size_t aside_ = 0;
  std::size_t peak_ = 0;
  std::int64_t waits_ = 0;
};

}  // namespace backfill
