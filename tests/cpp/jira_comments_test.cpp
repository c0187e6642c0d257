// Tests of the Jira source's comment reading against a loopback server: the comments search leaves
// out are read concurrently and journaled in issue order; a failure or a stop ends the readers
// without starting new requests, and the failure is what is raised.
#include "backfill/sources/jira/jira.hpp"

#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "backfill/core/errors.hpp"
#include "loopback.hpp"

using namespace backfill;
using namespace std::chrono_literals;

namespace {

// A loopback HTTP/1.1 server: each connection's request target goes to `route`, whose raw response
// is sent before the connection closes.
class route_server {
 public:
  explicit route_server(std::function<std::string(const std::string& target)> route)
      : route_(std::move(route)) {
    fd_ = test_net::listen_loopback(port_);
    thread_ = std::thread([this] {
      for (;;) {
        int c = ::accept(fd_, nullptr, nullptr);
        if (c < 0) return;
        std::lock_guard<std::mutex> l(m_);
        workers_.emplace_back([this, c] { handle(c); });
      }
    });
  }
  ~route_server() {
    ::shutdown(fd_, SHUT_RDWR);
    ::close(fd_);
    thread_.join();
    std::lock_guard<std::mutex> l(m_);
    for (auto& t : workers_) t.join();
  }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }

 private:
  void handle(int c) {
    std::string req;
    char buf[4096];
    while (req.find("\r\n\r\n") == std::string::npos) {
      ssize_t n = ::recv(c, buf, sizeof buf, 0);
      if (n <= 0) break;
      req.append(buf, static_cast<std::size_t>(n));
    }
    const std::size_t sp = req.find(' ');
    const std::size_t sp2 = req.find(' ', sp + 1);
    const std::string resp = sp == std::string::npos ? "" : route_(req.substr(sp + 1, sp2 - sp - 1));
    ::send(c, resp.data(), resp.size(), MSG_NOSIGNAL);
    ::close(c);
  }

  std::function<std::string(const std::string&)> route_;
  int fd_ = -1;
  int port_ = 0;
  std::thread thread_;
  std::mutex m_;
  std::vector<std::thread> workers_;
};

std::string reply(int status, const std::string& body) {
  return "HTTP/1.1 " + std::to_string(status) +
         " X\r\nContent-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) +
         "\r\nConnection: close\r\n\r\n" + body;
}

// One search page of `keys`, each with more comments (30) than search embeds (none here).
std::string search_page(const std::vector<std::string>& keys) {
  std::string issues;
  for (const auto& k : keys) {
    if (!issues.empty()) issues += ',';
    issues +=
        R"({"key":")" + k +
        R"(","fields":{"updated":"2024-01-01T00:00:00.000+0000","comment":{"total":30,"comments":[]}}})";
  }
  return R"({"isLast":true,"issues":[)" + issues + "]}";
}

std::string comment_page(const std::string& key) {
  return R"({"startAt":0,"maxResults":100,"total":1,"comments":[{"id":"1","body":null,"note":")" + key +
         R"("}]})";
}

// The issue key of a comment request target ("/rest/api/3/issue/A-1/comment?..."), else "".
std::string comment_key(const std::string& target) {
  const std::string prefix = "/rest/api/3/issue/";
  if (target.rfind(prefix, 0) != 0) return {};
  return target.substr(prefix.size(), target.find('/', prefix.size()) - prefix.size());
}

jira_options options_for(const route_server& s, int max_in_flight) {
  jira_options o;
  o.url = s.url();
  o.email = "me@example.com";
  o.token = "tok-secret";
  o.projects = {"A"};
  o.rate = 1000;
  o.max_in_flight = max_in_flight;
  o.timeout = 10;
  return o;
}

struct recording_sink final : page_sink {
  void page(std::string_view body, std::int64_t, std::string_view, std::string_view) override {
    pages.emplace_back(body);
  }
  std::vector<std::string> pages;
};

const std::vector<std::string> keys = {"A-1", "A-2", "A-3", "A-4", "A-5", "A-6"};

// The search page above, or an empty field catalogue (GET /rest/api/3/field).
std::string search_or_fields(const std::string& target) {
  return target.rfind("/rest/api/3/field", 0) == 0 ? "[]" : search_page(keys);
}

}  // namespace

TEST(JiraComments, AreReadConcurrentlyAndJournaledInIssueOrder) {
  std::atomic<int> open{0}, most{0};
  route_server s([&](const std::string& target) {
    const std::string key = comment_key(target);
    if (key.empty()) return reply(200, search_or_fields(target));
    const int now = ++open;
    for (int m = most.load(); now > m && !most.compare_exchange_weak(m, now);) {
    }
    std::this_thread::sleep_for(key == "A-1" ? 150ms : 30ms);  // the first issue finishes last
    --open;
    return reply(200, comment_page(key));
  });
  jira_source src(options_for(s, 3));
  recording_sink sink;
  run_context ctx;
  src.fetch({"A", "A", -1, -1}, "", sink, ctx);
  ASSERT_EQ(sink.pages.size(), 1u);
  const std::string& body = sink.pages[0];
  std::size_t pos = body.find(R"("comments":{)");
  ASSERT_NE(pos, std::string::npos) << body;
  for (const auto& k : keys) {
    const std::size_t at = body.find("\"" + k + "\":[", pos);
    ASSERT_NE(at, std::string::npos) << k << " missing or out of order in " << body;
    pos = at;
  }
  EXPECT_GE(most.load(), 2);
  EXPECT_LE(most.load(), 3);
}

// A-2 fails at once while A-1, earlier in issue order, is still being read: A-1's reader ends with a
// cancel, which echoes the stop and must not hide the failure; no reader starts another issue.
TEST(JiraComments, AFailureStopsTheOtherReadersAndIsRaisedOverTheirCancels) {
  std::mutex m;
  std::vector<std::string> requested;
  route_server s([&](const std::string& target) {
    const std::string key = comment_key(target);
    if (key.empty()) return reply(200, search_or_fields(target));
    {
      std::lock_guard<std::mutex> l(m);
      requested.push_back(key);
    }
    if (key == "A-1") {
      std::this_thread::sleep_for(2s);
      return reply(200, comment_page(key));
    }
    if (key == "A-2") return reply(422, R"({"errorMessages":["A-2 is broken"]})");
    return reply(200, comment_page(key));
  });
  jira_source src(options_for(s, 2));
  recording_sink sink;
  run_context ctx;
  const auto t0 = std::chrono::steady_clock::now();
  try {
    src.fetch({"A", "A", -1, -1}, "", sink, ctx);
    FAIL() << "no error raised";
  } catch (const http::http_error& e) {
    EXPECT_EQ(e.status(), 422);
    EXPECT_NE(e.body_excerpt().find("A-2 is broken"), std::string::npos) << e.body_excerpt();
  }
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 1500ms);  // A-1's read was cut short, not awaited
  EXPECT_TRUE(sink.pages.empty());
  std::lock_guard<std::mutex> l(m);
  for (const auto& k : requested)
    EXPECT_TRUE(k == "A-1" || k == "A-2") << k << " was requested after the failure";
}

TEST(JiraComments, AStopEndsTheReadersWithoutNewRequests) {
  std::atomic<int> comment_requests{0};
  route_server s([&](const std::string& target) {
    const std::string key = comment_key(target);
    if (key.empty()) return reply(200, search_or_fields(target));
    ++comment_requests;
    std::this_thread::sleep_for(300ms);
    return reply(200, comment_page(key));
  });
  jira_source src(options_for(s, 2));
  recording_sink sink;
  // Stops as soon as the first comment request has reached the server.
  run_context ctx([&](const progress&) { return comment_requests.load() > 0; }, 10ms);
  EXPECT_THROW(src.fetch({"A", "A", -1, -1}, "", sink, ctx), cancelled);
  EXPECT_LE(comment_requests.load(), 2);  // the two in flight; no reader started another
  EXPECT_TRUE(sink.pages.empty());
}
