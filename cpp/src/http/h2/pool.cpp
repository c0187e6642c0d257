// The native HTTP/2 pool's public side (connection.hpp), called from the engine's loop thread.
#include <algorithm>

#include <fmt/format.h>

#include "http/h2/pool_impl.hpp"
#include "http/text.hpp"

namespace backfill::http::h2 {

pool::impl::impl(const client_options& o) : opts(o), callbacks(make_callbacks()) {
  // libcurl reads http_proxy in lowercase only (an HTTP_PROXY set by a CGI server is not a proxy).
  http_proxy = env_first({"http_proxy", "all_proxy", "ALL_PROXY"});
  https_proxy = env_first({"https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"});
  no_proxy = env_first({"no_proxy", "NO_PROXY"});
}

pool::impl::~impl() {
  for (auto& c : conns) close_connection(*c);
}

pool::pool(const client_options& opts) : impl_(std::make_unique<impl>(opts)) {}

pool::~pool() = default;

bool pool::accepts(std::string_view url) const {
  target t;
  if (!parse_target(url, t)) return false;
  if (!impl_->opts.proxy.empty()) return false;
  const std::string& proxy = t.tls ? impl_->https_proxy : impl_->http_proxy;
  return proxy.empty() || no_proxy_matches(impl_->no_proxy, t.host);
}

void pool::start(transfer& t, clock::time_point now) {
  impl& m = *impl_;
  loop_state::current = &m;
  m.now = now;
  target where;
  parse_target(t.req->url, where);  // accepts() said yes
  connection* c = m.pick(where);
  auto* s = new stream();
  s->t = &t;
  s->conn = c;
  s->body = &t.req->body;
  s->hold = t.keep_alive;
  s->progress_at = now;
  s->deadline =
      now + std::chrono::duration_cast<clock::duration>(std::chrono::duration<double>(m.opts.timeout));
  t.current = s;
  c->streams.push_back(s);

  std::int32_t id = submit_request(*c, *s, where, m.opts.user_agent);
  m.done = &m.early;
  if (c->ph == connection::phase::dead) {
    // Resolving or connecting failed at once: the transfer ends on the next perform().
    std::string why = c->connect_error.empty() ? "no address to connect to" : c->connect_error;
    m.fail_connection(
        *c, why.rfind("Could not resolve", 0) == 0 ? CURLE_COULDNT_RESOLVE_HOST : CURLE_COULDNT_CONNECT, why);
  } else if (id < 0) {
    c->goaway = true;  // out of stream ids, or broken: no new streams here
    m.early.push_back(
        {&t, CURLE_HTTP2, 0, fmt::format("HTTP/2 request on {} failed: {}", c->key, nghttp2_strerror(id))});
    t.current = nullptr;
    erase_stream(c->streams, s);
    delete s;
  } else {
    s->id = id;
    if (c->ph == connection::phase::open) m.send(*c);
  }
  m.done = nullptr;
}

void pool::cancel(transfer& t) {
  impl& m = *impl_;
  loop_state::current = &m;
  m.early.erase(std::remove_if(m.early.begin(), m.early.end(), [&](const outcome& o) { return o.t == &t; }),
                m.early.end());
  stream* s = t.current;
  if (!s) return;
  connection& c = *s->conn;
  m.reset(c, *s);
  m.done = &m.early;
  if (c.ph == connection::phase::open) m.send(c);
  m.done = nullptr;
}

void pool::wait_fds(std::vector<curl_waitfd>& fds) const {
  for (const auto& cp : impl_->conns) {
    const connection& c = *cp;
    if (c.fd < 0 || c.ph == connection::phase::dead) continue;
    short events = 0;
    switch (c.ph) {
      case connection::phase::connecting: events = CURL_WAIT_POLLOUT; break;
      case connection::phase::handshaking:
        events = c.ssl_wants == POLLIN ? CURL_WAIT_POLLIN : CURL_WAIT_POLLOUT;
        break;
      default:
        events = static_cast<short>(CURL_WAIT_POLLIN | (c.write_blocked ? CURL_WAIT_POLLOUT : 0));
        break;
    }
    fds.push_back({c.fd, events, 0});
  }
}

void pool::perform(const std::vector<curl_waitfd>& polled, clock::time_point now,
                   std::vector<outcome>& done) {
  impl& m = *impl_;
  loop_state::current = &m;
  m.now = now;
  for (auto& o : m.early) done.push_back(std::move(o));
  m.early.clear();
  m.done = &done;
  for (std::size_t i = 0; i < m.conns.size(); ++i) {
    connection& c = *m.conns[i];
    if (c.ph == connection::phase::dead) continue;
    short revents = 0;
    for (const auto& f : polled)
      if (f.fd == c.fd) revents = static_cast<short>(f.revents);
    short ev = 0;
    if (revents & CURL_WAIT_POLLIN) ev |= POLLIN;
    if (revents & CURL_WAIT_POLLOUT) ev |= POLLOUT;
    if (revents & ~(CURL_WAIT_POLLIN | CURL_WAIT_POLLOUT | CURL_WAIT_POLLPRI)) ev |= POLLERR;
    if (c.ph == connection::phase::open && !ev && !c.write_blocked &&
        !nghttp2_session_want_write(c.session.get()))
      continue;
    m.service(c, ev);
  }
  if (now >= m.next_check) {
    m.next_check = now + std::chrono::milliseconds(100);
    m.check_deadlines();
    for (auto& cp : m.conns)
      if (cp->ph == connection::phase::open) m.send(*cp);  // the resets just queued
  }
  m.sweep();
  m.done = nullptr;
}

int pool::timeout_ms(clock::time_point now, int cap) const {
  if (!impl_->early.empty()) return 0;
  if (impl_->conns.empty()) return cap;
  auto ms = std::chrono::ceil<std::chrono::milliseconds>(impl_->next_check - now).count();
  return static_cast<int>(std::clamp<long long>(ms, 0, cap));
}

void pool::abort_all(std::vector<outcome>& done) {
  impl& m = *impl_;
  loop_state::current = &m;
  for (auto& o : m.early) done.push_back(std::move(o));
  m.early.clear();
  m.done = &done;
  for (auto& cp : m.conns) m.fail_connection(*cp, CURLE_ABORTED_BY_CALLBACK, "the client is shutting down");
  m.done = nullptr;
  m.conns.clear();
}

std::size_t pool::connections() const { return impl_->conns.size(); }

}  // namespace backfill::http::h2
