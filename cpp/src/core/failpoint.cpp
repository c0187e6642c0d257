#include "backfill/core/failpoint.hpp"

#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_map>

#include "backfill/core/log.hpp"
#include "backfill/core/split.hpp"

namespace backfill {
namespace {

struct action {
  long long nth = 0;  // 0: every hit
  bool kill = false;
  long long sleep_ms = 0;
  long long hits = 0;
};

struct registry {
  std::mutex mutex;
  std::unordered_map<std::string, action> actions;
  bool any = false;

  registry() {
    const char* spec = std::getenv("BACKFILL_FAILPOINTS");
    if (!spec || !*spec) return;
    for (std::string_view field : split(spec, ';')) {
      const std::string item(field);
      auto eq = item.find('=');
      auto colon = item.find(':', eq == std::string::npos ? 0 : eq);
      if (eq == std::string::npos || colon == std::string::npos) continue;
      action a;
      std::string when = item.substr(eq + 1, colon - eq - 1);
      std::string what = item.substr(colon + 1);
      a.nth = when == "*" ? 0 : std::atoll(when.c_str());
      if (what == "kill") {
        a.kill = true;
      } else if (what.rfind("sleep(", 0) == 0) {
        a.sleep_ms = std::atoll(what.c_str() + 6);
      } else {
        continue;
      }
      actions[item.substr(0, eq)] = a;
      any = true;
    }
  }
};

registry& reg() {
  static registry r;
  return r;
}

std::atomic<int> enabled{-1};  // -1 unknown, 0 off, 1 on

}  // namespace

void failpoint(std::string_view name) {
  int on = enabled.load(std::memory_order_relaxed);
  if (on == 0) return;
  if (on < 0) {
    on = reg().any ? 1 : 0;
    enabled.store(on, std::memory_order_relaxed);
    if (!on) return;
  }
  long long sleep_ms = 0;
  {
    auto& r = reg();
    std::lock_guard<std::mutex> lock(r.mutex);
    auto it = r.actions.find(std::string(name));
    if (it == r.actions.end()) return;
    action& a = it->second;
    ++a.hits;
    if (a.nth != 0 && a.hits != a.nth) return;
    if (a.kill) {
      logger()->flush();
      ::kill(::getpid(), SIGKILL);
    }
    sleep_ms = a.sleep_ms;
  }
  if (sleep_ms > 0) std::this_thread::sleep_for(std::chrono::milliseconds(sleep_ms));
}

}  // namespace backfill
