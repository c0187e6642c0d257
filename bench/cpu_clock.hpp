// CPU clocks shared by bench/curl_loop.cpp and bench/engine_loop.cpp: both report the CPU they and
// the server used during the timed part, in the same JSON fields.
#pragma once

#include <ctime>

#include <sys/types.h>

namespace bench {

inline double seconds_of(const timespec& ts) {
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

// The CPU time of this process, every thread included.
inline double process_cpu_seconds() {
  timespec ts{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return seconds_of(ts);
}

// The CPU time of another process (nanosecond clock); -1 when it cannot be read.
inline double other_cpu_seconds(long pid) {
  clockid_t clock{};
  timespec ts{};
  if (pid <= 0 || clock_getcpuclockid(static_cast<pid_t>(pid), &clock) != 0 || clock_gettime(clock, &ts) != 0)
    return -1;
  return seconds_of(ts);
}

}  // namespace bench
