// The engine's side of bench/http_bench.py without Python: N GETs of one URL through
// backfill::http::client, used the way the core uses it (sources, sinks and paginate call it from
// C++), so that the comparison with bench/curl_loop.cpp measures the engine and nothing else.
//
//   engine_loop --url URL --requests N --concurrency C [--mode many|execute] [--warmup W]
//               [--expect-bytes B] [--watch-pid PID]
//
//   many     (default) submit() every request at once (the client's max_in_flight = C keeps C of them
//            in flight), then wait() for each in order, check it and hand it back
//            (client::recycle): what request_many and the sinks' batches do.
//   execute  execute() one request after the other (C = 1): what paginate does.
//
// The client is configured as in the Python benchmark (max_attempts 1, no rate limit), so every
// behaviour of the engine (limits, retry bookkeeping, header parsing, scrubbing) is in the path.
// Prints one JSON object in the format of curl_loop. The first W requests (default 2*C) open the
// connections and are not timed. Exits 1 on any failure, non-200 status or wrong body size.
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <exception>
#include <string>
#include <vector>

#include <curl/curl.h>

#include "cpu_clock.hpp"
#include "loop_options.hpp"

#include "backfill/http/client.hpp"

namespace {

[[noreturn]] void usage(const char* why) {
  std::fprintf(
      stderr,
      "engine_loop: %s\nusage: engine_loop --url URL --requests N --concurrency C [--mode many|execute] "
      "[--warmup W] [--expect-bytes B] [--watch-pid PID]\n",
      why);
  std::exit(2);
}

// Checks a response and hands it back to the client, as the core's callers do once they are done
// with it (client::recycle).
long long check(backfill::http::client& c, backfill::http::response&& r, long long expect_bytes) {
  if (r.status != 200 || (expect_bytes >= 0 && static_cast<long long>(r.body.size()) != expect_bytes)) {
    std::fprintf(stderr, "engine_loop: status %ld, %zu bytes\n", r.status, r.body.size());
    std::exit(1);
  }
  auto bytes = static_cast<long long>(r.body.size());
  c.recycle(std::move(r));
  return bytes;
}

long long run(backfill::http::client& c, const std::string& url, long long n, bool many,
              long long expect_bytes) {
  using namespace backfill::http;
  long long bytes = 0;
  if (!many) {
    for (long long i = 0; i < n; ++i) bytes += check(c, c.execute(request{"GET", url, {}, {}}), expect_bytes);
    return bytes;
  }
  std::vector<client::handle> handles;
  handles.reserve(static_cast<std::size_t>(n));
  for (long long i = 0; i < n; ++i) handles.push_back(c.submit(request{"GET", url, {}, {}}));
  for (auto& h : handles) {
    bytes += check(c, c.wait(h), expect_bytes);
    h.reset();
  }
  return bytes;
}

}  // namespace

int main(int argc, char** argv) {
  std::string mode = "many";
  const bench::loop_options opts =
      bench::parse_loop_options(argc, argv, usage, [&](const std::string& a, const char* v) {
        if (a != "--mode") return false;
        mode = v;
        return true;
      });
  const std::string& url = opts.url;
  const long long requests = opts.requests, concurrency = opts.concurrency, expect_bytes = opts.expect_bytes;
  if (mode != "many" && mode != "execute") usage("--mode is many or execute");
  const bool many = mode == "many";

  backfill::http::client_options o;
  o.retry.max_attempts = 1;
  o.default_limit = {0.0, 1.0, static_cast<int>(concurrency)};
  o.max_total_in_flight = 64;
  try {
    backfill::http::client c(o);
    if (opts.warmup > 0) run(c, url, opts.warmup, many, expect_bytes);

    const auto m = bench::measure(opts.watch_pid, [&] { return run(c, url, requests, many, expect_bytes); });
    bench::print_result("backfill.cpp", mode, requests, concurrency, m);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "engine_loop: %s\n", e.what());
    return 1;
  }
  return 0;
}
