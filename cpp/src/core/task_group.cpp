#include "backfill/core/task_group.hpp"

#include <algorithm>
#include <memory>
#include <utility>

#include "backfill/core/errors.hpp"

namespace backfill {

task_group::~task_group() {
  request_stop();
  join_all();
}

void task_group::record(std::size_t index, std::exception_ptr error, bool is_cancel) {
  std::lock_guard<std::mutex> lock(mutex_);
  // A cancel seen while stopping echoes the stop; it counts only when there is nothing else.
  const bool echo = is_cancel && stopping();
  if (echo && error_) return;
  // A real failure beats a cancel; among equals, the lowest index wins.
  const bool better =
      !error_ || (error_is_cancel_ && !is_cancel) || (error_is_cancel_ == is_cancel && index < error_index_);
  if (better) {
    error_ = std::move(error);
    error_index_ = index;
    error_is_cancel_ = is_cancel;
  }
  stop_.store(true, std::memory_order_relaxed);
}

void task_group::thread_ended() {
  std::lock_guard<std::mutex> lock(mutex_);
  --running_;
  ended_.notify_all();
}

void task_group::spawn(std::function<void()> fn) {
  std::size_t index = 0;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    index = spawned_++;
    ++running_;
  }
  threads_.emplace_back([this, index, fn = std::move(fn)] {
    try {
      fn();
    } catch (const cancelled&) {
      record(index, std::current_exception(), true);
    } catch (...) {
      record(index, std::current_exception(), false);
    }
    thread_ended();
  });
}

void task_group::for_each(std::size_t count, std::size_t workers,
                          std::function<void(std::size_t job, std::size_t worker)> job) {
  if (count == 0) return;
  const std::size_t n = std::clamp<std::size_t>(workers, 1, count);
  auto next = std::make_shared<std::atomic<std::size_t>>(0);
  auto shared_job = std::make_shared<std::function<void(std::size_t, std::size_t)>>(std::move(job));
  {
    std::lock_guard<std::mutex> lock(mutex_);
    running_ += n;
  }
  for (std::size_t w = 0; w < n; ++w) {
    threads_.emplace_back([this, w, count, next, shared_job] {
      for (std::size_t i; !stopping() && (i = next->fetch_add(1)) < count;) {
        try {
          (*shared_job)(i, w);
        } catch (const cancelled&) {
          record(i, std::current_exception(), true);
        } catch (...) {
          record(i, std::current_exception(), false);
        }
      }
      thread_ended();
    });
  }
}

void task_group::join_all() noexcept {
  for (auto& t : threads_)
    if (t.joinable()) t.join();
  threads_.clear();
}

void task_group::wait(const std::function<void()>& tick, std::chrono::milliseconds interval) {
  try {
    std::unique_lock<std::mutex> lock(mutex_);
    while (running_ > 0) {
      if (!tick) {
        ended_.wait(lock, [&] { return running_ == 0; });
        break;
      }
      ended_.wait_for(lock, interval, [&] { return running_ == 0; });
      if (running_ == 0) break;
      lock.unlock();
      tick();
      lock.lock();
    }
  } catch (...) {
    request_stop();
    join_all();
    throw;
  }
  join_all();
  std::exception_ptr error;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    error = std::exchange(error_, nullptr);
  }
  if (error) std::rethrow_exception(error);
}

}  // namespace backfill
