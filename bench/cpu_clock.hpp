// What bench/curl_loop.cpp and bench/engine_loop.cpp share: the timed run, with the CPU they and the
// server used meanwhile, and the one JSON line bench/http_bench.py reads from both.
#pragma once

#include <chrono>
#include <cstdio>
#include <ctime>
#include <string>

#include <curl/curl.h>

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

struct measurement {
  long long bytes = 0;
  double seconds = 0;
  double client_cpu_seconds = 0;
  double server_cpu_seconds = -1;  // -1: not known
};

// Times `run` (which returns the body bytes it received), with this process's CPU and that of
// process `server_pid` (0: none) over the same interval.
template <class Run>
measurement measure(long server_pid, Run&& run) {
  measurement m;
  const double server0 = other_cpu_seconds(server_pid);
  const double cpu0 = process_cpu_seconds();
  const auto t0 = std::chrono::steady_clock::now();
  m.bytes = run();
  const auto t1 = std::chrono::steady_clock::now();
  m.client_cpu_seconds = process_cpu_seconds() - cpu0;
  const double server1 = other_cpu_seconds(server_pid);
  m.seconds = std::chrono::duration<double>(t1 - t0).count();
  if (server0 >= 0 && server1 >= 0) m.server_cpu_seconds = server1 - server0;
  return m;
}

// The result line: `mode` ("" to leave the field out) says how the client was driven.
inline void print_result(const char* client, const std::string& mode, long long requests,
                         long long concurrency, const measurement& m) {
  const std::string mode_field = mode.empty() ? "" : ", \"mode\": \"" + mode + "\"";
  const std::string server = m.server_cpu_seconds >= 0 ? std::to_string(m.server_cpu_seconds) : "null";
  std::printf(
      "{\"client\": \"%s\", \"curl_version\": \"%s\"%s, \"requests\": %lld, \"concurrency\": %lld, "
      "\"seconds\": %.6f, \"bytes\": %lld, \"requests_per_second\": %.3f, \"mb_per_second\": %.3f, "
      "\"client_cpu_seconds\": %.6f, \"server_cpu_seconds\": %s}\n",
      client, curl_version_info(CURLVERSION_NOW)->version, mode_field.c_str(), requests, concurrency,
      m.seconds, m.bytes, static_cast<double>(requests) / m.seconds,
      static_cast<double>(m.bytes) / 1e6 / m.seconds, m.client_cpu_seconds, server.c_str());
}

}  // namespace bench
