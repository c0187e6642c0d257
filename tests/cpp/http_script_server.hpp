// A scripted loopback HTTP/1.1 server for the HTTP engine's tests, and helpers to write its script.
#pragma once

#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <deque>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "backfill/http/options.hpp"
#include "loopback.hpp"

namespace backfill::test_net {

// A loopback HTTP/1.1 server answering each connection's first request with the next scripted
// raw response, then closing. Counts requests and the most connections open at once.
class script_server {
 public:
  explicit script_server(std::deque<std::string> script, std::string fallback = "")
      : script_(std::move(script)), fallback_(std::move(fallback)) {
    fd_ = backfill::test_net::listen_loopback(port_);
    thread_ = std::thread([this] { serve(); });
  }
  ~script_server() {
    stop_ = true;
    ::shutdown(fd_, SHUT_RDWR);
    ::close(fd_);
    thread_.join();
    for (auto& t : workers_) t.join();
  }
  std::string url(const std::string& path) const {
    return "http://127.0.0.1:" + std::to_string(port_) + path;
  }
  // Adds a response to the script (one that names the server's own URL, say).
  void push(std::string response) {
    std::lock_guard<std::mutex> l(m_);
    script_.push_back(std::move(response));
  }
  int requests() const { return requests_.load(); }
  int max_open() const { return max_open_.load(); }
  std::string last_request() {
    std::lock_guard<std::mutex> l(m_);
    return last_;
  }

 private:
  void serve() {
    while (!stop_) {
      int c = ::accept(fd_, nullptr, nullptr);
      if (c < 0) return;
      workers_.emplace_back([this, c] { handle(c); });
    }
  }
  void handle(int c) {
    int open = ++open_;
    int prev = max_open_.load();
    while (open > prev && !max_open_.compare_exchange_weak(prev, open)) {
    }
    std::string req;
    char buf[4096];
    while (req.find("\r\n\r\n") == std::string::npos) {
      ssize_t n = ::recv(c, buf, sizeof buf, 0);
      if (n <= 0) break;
      req.append(buf, static_cast<std::size_t>(n));
    }
    std::string resp;
    {
      std::lock_guard<std::mutex> l(m_);
      last_ = req;
      if (!script_.empty()) {
        resp = script_.front();
        script_.pop_front();
      } else {
        resp = fallback_;
      }
    }
    ++requests_;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));  // keep connections overlapping
    // Counted as finished before the reply leaves: the client cannot start its next request sooner.
    --open_;
    ::send(c, resp.data(), resp.size(), MSG_NOSIGNAL);
    ::close(c);
  }

  int fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::thread thread_;
  std::vector<std::thread> workers_;
  std::mutex m_;
  std::deque<std::string> script_;
  std::string fallback_;
  std::string last_;
  std::atomic<int> requests_{0}, open_{0}, max_open_{0};
};

inline std::string reply(int status, const std::string& body, const std::string& extra = "") {
  return "HTTP/1.1 " + std::to_string(status) + " X\r\nContent-Length: " + std::to_string(body.size()) +
         "\r\nConnection: close\r\n" + extra + "\r\n" + body;
}

inline http::client_options fast_retries() {
  http::client_options o;
  o.retry.base_delay = 0.01;
  o.retry.max_attempts = 4;
  return o;
}

}  // namespace backfill::test_net
