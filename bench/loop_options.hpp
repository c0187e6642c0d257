// The command line bench/curl_loop.cpp and bench/engine_loop.cpp share: --url, --requests,
// --concurrency, --warmup, --expect-bytes and --watch-pid, each with a value.
#pragma once

#include <cstdlib>
#include <string>

namespace bench {

struct loop_options {
  std::string url;
  long long requests = 0;
  long long concurrency = 1;
  long long warmup = -1;  // after parsing: 2 * concurrency unless given
  long long expect_bytes = -1;
  long watch_pid = 0;
};

// Parses argv. An option the loops do not share goes to other(name, value), which returns false when
// it does not know it. `usage(why)` must not return: it is called on a missing value, an unknown
// option, or without --url, --requests and --concurrency.
template <class Usage, class Other>
loop_options parse_loop_options(int argc, char** argv, Usage&& usage, Other&& other) {
  loop_options o;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (i + 1 >= argc) usage(("missing value of " + a).c_str());
    const char* v = argv[++i];
    if (a == "--url")
      o.url = v;
    else if (a == "--requests")
      o.requests = std::atoll(v);
    else if (a == "--concurrency")
      o.concurrency = std::atoll(v);
    else if (a == "--warmup")
      o.warmup = std::atoll(v);
    else if (a == "--expect-bytes")
      o.expect_bytes = std::atoll(v);
    else if (a == "--watch-pid")
      o.watch_pid = std::atol(v);
    else if (!other(a, v))
      usage(("unknown option " + a).c_str());
  }
  if (o.url.empty() || o.requests <= 0 || o.concurrency <= 0)
    usage("--url, --requests and --concurrency are required");
  if (o.warmup < 0) o.warmup = 2 * o.concurrency;
  return o;
}

}  // namespace bench
