// The bare libcurl baseline of bench/http_bench.py: N GETs of one URL at concurrency C through the
// multi interface, nothing else: the least a libcurl program can do. C easy handles are created
// once and re-added after each transfer, so their connections are kept alive and reused; each
// response's body is appended to its handle's std::string, checked, and cleared (the string keeps
// its capacity; --fresh-buffer gives every response a new string instead, to price allocation).
//
//   curl_loop --url URL --requests N --concurrency C [--warmup W] [--expect-bytes B] [--watch-pid PID]
//             [--fresh-buffer 1] [--user-agent UA] [--compressed 1]
//
// --user-agent and --compressed 1 make it send the request the engine sends: a User-Agent line and
// libcurl's Accept-Encoding line (every decoder it has) with decoding on. Both lines go in a header
// list set once, the cheapest way libcurl has to send them (an option would be formatted anew for
// every transfer).
//
// Prints one JSON object: requests/s, MB/s (MB = 10^6 bytes of body), the CPU seconds this process
// used during the timed part and, with --watch-pid, those of that process (the server's worker) in
// the same interval. The first W requests (default 2*C) open the connections and are not timed.
// Exits 1 on any failed transfer, non-200 status or (with --expect-bytes) wrong body size.
#include <curl/curl.h>

#include "cpu_clock.hpp"
#include "loop_options.hpp"

#include <unistd.h>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <string>
#include <vector>

namespace {

struct slot {
  CURL* easy = nullptr;
  std::string body;
};

size_t on_data(char* data, size_t size, size_t count, void* user) {
  auto* body = static_cast<std::string*>(user);
  body->append(data, size * count);
  return size * count;
}

[[noreturn]] void usage(const char* why) {
  std::fprintf(stderr,
               "curl_loop: %s\nusage: curl_loop --url URL --requests N --concurrency C [--warmup W] "
               "[--expect-bytes B] [--watch-pid PID] [--fresh-buffer 1] [--user-agent UA] [--compressed 1]\n",
               why);
  std::exit(2);
}

// Runs `total` transfers with at most `concurrency` at once; returns body bytes received.
long long run(CURLM* multi, std::vector<slot>& slots, long long total, long long expect_bytes, bool fresh) {
  long long started = 0, done = 0, bytes = 0;
  for (auto& s : slots) {
    if (started == total) break;
    curl_multi_add_handle(multi, s.easy);
    ++started;
  }
  while (done < total) {
    int running = 0;
    if (curl_multi_perform(multi, &running) != CURLM_OK) {
      std::fprintf(stderr, "curl_loop: curl_multi_perform failed\n");
      std::exit(1);
    }
    int queued = 0;
    bool any = false;
    while (CURLMsg* msg = curl_multi_info_read(multi, &queued)) {
      if (msg->msg != CURLMSG_DONE) continue;
      any = true;
      CURL* easy = msg->easy_handle;
      slot* s = nullptr;
      curl_easy_getinfo(easy, CURLINFO_PRIVATE, reinterpret_cast<char**>(&s));
      long status = 0;
      curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &status);
      if (msg->data.result != CURLE_OK || status != 200 ||
          (expect_bytes >= 0 && static_cast<long long>(s->body.size()) != expect_bytes)) {
        std::fprintf(stderr, "curl_loop: transfer failed: %s, status %ld, %zu bytes\n",
                     curl_easy_strerror(msg->data.result), status, s->body.size());
        std::exit(1);
      }
      bytes += static_cast<long long>(s->body.size());
      if (fresh)
        std::string().swap(s->body);
      else
        s->body.clear();
      ++done;
      curl_multi_remove_handle(multi, easy);
      if (started < total) {
        curl_multi_add_handle(multi, easy);
        ++started;
      }
    }
    // Only wait when nothing finished: a re-added handle must be started by the next perform.
    if (!any && done < total) curl_multi_poll(multi, nullptr, 0, 1000, nullptr);
  }
  return bytes;
}

}  // namespace

int main(int argc, char** argv) {
  bool fresh = false, compressed = false;
  std::string user_agent;
  const bench::loop_options opts =
      bench::parse_loop_options(argc, argv, usage, [&](const std::string& a, const char* v) {
        if (a == "--fresh-buffer")
          fresh = std::atoi(v) != 0;
        else if (a == "--user-agent")
          user_agent = v;
        else if (a == "--compressed")
          compressed = std::atoi(v) != 0;
        else
          return false;
        return true;
      });
  const long long requests = opts.requests, concurrency = opts.concurrency, expect_bytes = opts.expect_bytes;

  curl_global_init(CURL_GLOBAL_DEFAULT);
  CURLM* multi = curl_multi_init();
  curl_slist* headers = nullptr;
  if (!user_agent.empty()) headers = curl_slist_append(headers, ("User-Agent: " + user_agent).c_str());
  if (compressed) {
    const curl_version_info_data* info = curl_version_info(CURLVERSION_NOW);
    std::string list;
    auto add = [&](const char* name) { list += (list.empty() ? "" : ", ") + std::string(name); };
    if (info->features & CURL_VERSION_LIBZ) {
      add("deflate");
      add("gzip");
    }
    if (info->features & CURL_VERSION_BROTLI) add("br");
    if (info->features & CURL_VERSION_ZSTD) add("zstd");
    if (!list.empty()) headers = curl_slist_append(headers, ("Accept-Encoding: " + list).c_str());
  }
  std::vector<slot> slots(static_cast<size_t>(concurrency));
  for (auto& s : slots) {
    s.easy = curl_easy_init();
    curl_easy_setopt(s.easy, CURLOPT_URL, opts.url.c_str());
    curl_easy_setopt(s.easy, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(s.easy, CURLOPT_WRITEDATA, &s.body);
    curl_easy_setopt(s.easy, CURLOPT_PRIVATE, &s);
    curl_easy_setopt(s.easy, CURLOPT_NOSIGNAL, 1L);
    if (compressed) curl_easy_setopt(s.easy, CURLOPT_ACCEPT_ENCODING, "");
    if (headers) curl_easy_setopt(s.easy, CURLOPT_HTTPHEADER, headers);
  }

  if (opts.warmup > 0) run(multi, slots, opts.warmup, expect_bytes, fresh);

  const auto m =
      bench::measure(opts.watch_pid, [&] { return run(multi, slots, requests, expect_bytes, fresh); });
  bench::print_result("libcurl", "", requests, concurrency, m);

  for (auto& s : slots) curl_easy_cleanup(s.easy);
  curl_multi_cleanup(multi);
  curl_slist_free_all(headers);
  curl_global_cleanup();
  return 0;
}
