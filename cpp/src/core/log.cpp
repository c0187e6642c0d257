#include "backfill/core/log.hpp"

#include <mutex>

#include <spdlog/sinks/base_sink.h>
#include <spdlog/sinks/stdout_sinks.h>

namespace backfill {
namespace {

// Routes formatted records to a std::function; swapped atomically under the sink's mutex.
class function_sink final : public spdlog::sinks::base_sink<std::mutex> {
 public:
  void set(log_function fn) {
    std::lock_guard<std::mutex> lock(mutex_);
    fn_ = std::move(fn);
  }

 protected:
  void sink_it_(const spdlog::details::log_msg& msg) override {
    std::string text(msg.payload.data(), msg.payload.size());
    if (fn_) {
      fn_(static_cast<int>(msg.level), text);
    } else if (msg.level >= spdlog::level::warn) {
      spdlog::memory_buf_t formatted;
      formatter_->format(msg, formatted);
      std::fwrite(formatted.data(), 1, formatted.size(), stderr);
    }
  }
  void flush_() override {}

 private:
  log_function fn_;
};

struct state {
  std::shared_ptr<function_sink> sink = std::make_shared<function_sink>();
  std::shared_ptr<spdlog::logger> log;
  state() {
    log = std::make_shared<spdlog::logger>("backfill", sink);
    log->set_level(spdlog::level::info);
    log->set_pattern("%Y-%m-%dT%H:%M:%S.%e %l backfill: %v");
  }
};

state& global() {
  static state s;
  return s;
}

}  // namespace

std::shared_ptr<spdlog::logger> logger() { return global().log; }

void set_log_function(log_function fn) { global().sink->set(std::move(fn)); }

void set_log_level(int level) { global().log->set_level(static_cast<spdlog::level::level_enum>(level)); }

}  // namespace backfill
