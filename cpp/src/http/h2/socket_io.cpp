// The native path's sockets: resolving (cached for a minute), non-blocking connects tried address
// by address, and the reads and writes of a connection (TLS or plain; plain writes gather many
// frames into one sendmsg()).
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include <fmt/format.h>

#include "http/h2/pool_impl.hpp"

namespace backfill::http::h2 {

bool pool::impl::resolve(connection& c) {
  std::string key = c.where.host + ":" + c.where.port;
  auto it = dns.find(key);
  if (it == dns.end() || it->second.first < now) {
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_ADDRCONFIG;
    addrinfo* res = nullptr;
    int rc = getaddrinfo(c.where.host.c_str(), c.where.port.c_str(), &hints, &res);
    if (rc != 0 || !res) {
      c.connect_error = fmt::format("Could not resolve host: {} ({})", c.where.host, gai_strerror(rc));
      return false;
    }
    std::vector<address> list;
    for (addrinfo* a = res; a; a = a->ai_next) {
      sockaddr_storage ss{};
      std::memcpy(&ss, a->ai_addr, a->ai_addrlen);
      list.emplace_back(ss, a->ai_addrlen);
    }
    freeaddrinfo(res);
    it = dns.insert_or_assign(key, std::make_pair(now + dns_ttl, std::move(list))).first;
  }
  c.addrs = it->second.second;
  return true;
}

// Starts a non-blocking connect to the next address; false when none is left.
bool pool::impl::connect_next(connection& c) {
  while (c.next_addr < c.addrs.size()) {
    const auto& [ss, len] = c.addrs[c.next_addr];
    ++c.next_addr;
    int fd = ::socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
      c.connect_error = fmt::format("socket(): {}", std::strerror(errno));
      continue;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof one);
    if (::connect(fd, reinterpret_cast<const sockaddr*>(&ss), len) == 0 || errno == EINPROGRESS) {
      c.fd = fd;
      return true;
    }
    c.connect_error =
        fmt::format("Failed to connect to {} port {}: {}", c.where.host, c.where.port, std::strerror(errno));
    ::close(fd);
  }
  return false;
}

// A connect finished (the socket became writable): TLS next, or HTTP/2 at once.
bool pool::impl::connected(connection& c) {
  int err = 0;
  socklen_t len = sizeof err;
  getsockopt(c.fd, SOL_SOCKET, SO_ERROR, &err, &len);
  if (err != 0) {
    c.connect_error =
        fmt::format("Failed to connect to {} port {}: {}", c.where.host, c.where.port, std::strerror(err));
    ::close(c.fd);
    c.fd = -1;
    if (connect_next(c)) return true;
    fail_connection(c, CURLE_COULDNT_CONNECT, c.connect_error);
    return false;
  }
  if (!c.where.tls) {
    c.ph = connection::phase::open;
    return true;
  }
  return start_tls(c);
}

// Writes what is queued; false when the connection failed.
bool pool::impl::flush(connection& c) {
  c.write_blocked = false;
  while (!c.out.empty()) {
    ssize_t n;
    if (c.ssl) {
      segment& s = c.out.front();
      ERR_clear_error();
      int w = SSL_write(c.ssl.get(), s.data(), static_cast<int>(std::min<std::size_t>(s.left(), 1u << 30)));
      if (w <= 0) {
        int e = SSL_get_error(c.ssl.get(), w);
        if (e == SSL_ERROR_WANT_WRITE || e == SSL_ERROR_WANT_READ) {
          c.write_blocked = true;
          return true;
        }
        fail_connection(c, CURLE_SEND_ERROR,
                        fmt::format("TLS write to {} failed: {}", c.key, openssl_error()));
        return false;
      }
      n = w;
    } else {
      iovec iov[iov_batch];
      int k = 0;
      for (auto it = c.out.begin(); it != c.out.end() && k < iov_batch; ++it, ++k)
        iov[k] = {const_cast<char*>(it->data()), it->left()};
      msghdr msg{};
      msg.msg_iov = iov;
      msg.msg_iovlen = static_cast<std::size_t>(k);
      n = ::sendmsg(c.fd, &msg, MSG_NOSIGNAL);  // a closed peer is EPIPE, not SIGPIPE
      if (n < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK) {
          c.write_blocked = true;
          return true;
        }
        if (errno == EINTR) continue;
        fail_connection(c, CURLE_SEND_ERROR,
                        fmt::format("Send failure to {}: {}", c.key, std::strerror(errno)));
        return false;
      }
    }
    auto left = static_cast<std::size_t>(n);
    c.out_bytes -= left;
    while (left > 0) {
      segment& s = c.out.front();
      std::size_t take = std::min(left, s.left());
      s.off += take;
      left -= take;
      if (s.left() == 0) c.out.pop_front();
    }
  }
  return true;
}

// Lets nghttp2 produce frames and writes them, until it has nothing more or the socket is full.
bool pool::impl::send(connection& c) {
  while (true) {
    if (!flush(c)) return false;
    if (c.write_blocked || !nghttp2_session_want_write(c.session.get())) return true;
    int rc = nghttp2_session_send(c.session.get());
    if (rc != 0) {
      fail_connection(c, CURLE_HTTP2,
                      fmt::format("HTTP/2 framing error on {}: {}", c.key, nghttp2_strerror(rc)));
      return false;
    }
    if (c.out.empty()) return true;
  }
}

// Reads what has arrived and hands it to nghttp2; false when the connection ended.
bool pool::impl::receive(connection& c) {
  while (true) {
    ssize_t n;
    if (c.ssl) {
      ERR_clear_error();
      int r = SSL_read(c.ssl.get(), inbuf.data(), static_cast<int>(inbuf.size()));
      if (r <= 0) {
        int e = SSL_get_error(c.ssl.get(), r);
        if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) return true;
        if (e == SSL_ERROR_ZERO_RETURN) {
          n = 0;
        } else {
          fail_connection(
              c, CURLE_RECV_ERROR,
              fmt::format("TLS read from {} failed: {}", c.key,
                          e == SSL_ERROR_SYSCALL && errno ? std::strerror(errno) : openssl_error()));
          return false;
        }
      } else {
        n = r;
      }
    } else {
      n = ::recv(c.fd, inbuf.data(), inbuf.size(), 0);
      if (n < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK) return true;
        if (errno == EINTR) continue;
        fail_connection(c, CURLE_RECV_ERROR,
                        fmt::format("Recv failure from {}: {}", c.key, std::strerror(errno)));
        return false;
      }
    }
    if (n == 0) {
      fail_connection(c, CURLE_RECV_ERROR, fmt::format("{} closed the connection", c.key));
      return false;
    }
    ssize_t used = nghttp2_session_mem_recv(c.session.get(), reinterpret_cast<const uint8_t*>(inbuf.data()),
                                            static_cast<std::size_t>(n));
    if (used < 0) {
      fail_connection(
          c, CURLE_HTTP2,
          fmt::format("HTTP/2 framing error from {}: {}", c.key, nghttp2_strerror(static_cast<int>(used))));
      return false;
    }
    if (static_cast<std::size_t>(n) < inbuf.size() && !(c.ssl && SSL_pending(c.ssl.get()) > 0)) return true;
  }
}

void pool::impl::service(connection& c, short revents) {
  if (c.ph == connection::phase::dead) return;
  if (c.ph == connection::phase::connecting) {
    if (!(revents & (POLLOUT | POLLERR | POLLHUP))) return;
    if (!connected(c)) return;
    if (c.ph != connection::phase::open) return;
  } else if (c.ph == connection::phase::handshaking) {
    if (!(revents & (POLLIN | POLLOUT | POLLERR | POLLHUP))) return;
    if (!handshake(c) || c.ph != connection::phase::open) return;
  } else if (revents & (POLLIN | POLLERR | POLLHUP)) {
    if (!receive(c)) return;
  }
  send(c);
}

}  // namespace backfill::http::h2
