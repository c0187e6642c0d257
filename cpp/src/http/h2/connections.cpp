// The pool's connections: opened on demand (up to a cap per host, a few streams each), chosen by
// load, failed with every transfer on them, closed, and swept; the deadlines of connects and
// streams (connect_timeout, timeout, low_speed_seconds).
#include <unistd.h>

#include <algorithm>

#include <fmt/format.h>

#include "http/h2/pool_impl.hpp"

namespace backfill::http::h2 {

// Every transfer on the connection ends with `code`; the connection is closed.
void pool::impl::fail_connection(connection& c, CURLcode code, const std::string& why) {
  for (stream* s : c.streams) {
    outcome o;
    o.t = s->t;
    o.code = code;
    o.reason = why;
    done->push_back(std::move(o));
  }
  close_connection(c);
}

// Closes the socket and the session; the streams still on it are freed (nghttp2_session_del
// calls no callbacks), their transfers let go without an outcome (fail_connection gives them one).
void pool::impl::close_connection(connection& c) {
  c.session.reset();
  for (stream* s : c.streams) {
    if (s->t) s->t->current = nullptr;
    delete s;
  }
  for (stream* s : c.detached) delete s;
  c.streams.clear();
  c.detached.clear();
  c.ssl.reset();
  if (c.fd >= 0) ::close(c.fd);
  c.fd = -1;
  c.out.clear();
  c.out_bytes = 0;
  c.ph = connection::phase::dead;
}

connection* pool::impl::open_connection(const target& t) {
  auto c = std::make_unique<connection>();
  c->key = t.key;
  c->where = t;
  c->connect_deadline =
      now + std::chrono::duration_cast<clock::duration>(std::chrono::duration<double>(opts.connect_timeout));
  nghttp2_session* session = nullptr;
  nghttp2_session_client_new(&session, callbacks.get(), c.get());
  c->session.reset(session);
  nghttp2_settings_entry settings[] = {{NGHTTP2_SETTINGS_ENABLE_PUSH, 0},
                                       {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, local_window}};
  nghttp2_submit_settings(c->session.get(), NGHTTP2_FLAG_NONE, settings, 2);
  nghttp2_session_set_local_window_size(c->session.get(), NGHTTP2_FLAG_NONE, 0, local_window);
  connection* raw = c.get();
  conns.push_back(std::move(c));
  if (!resolve(*raw)) {
    raw->ph = connection::phase::dead;  // its streams fail once they are attached (see start)
    return raw;
  }
  if (!connect_next(*raw)) raw->ph = connection::phase::dead;
  return raw;
}

connection* pool::impl::pick(const target& t) {
  connection* best = nullptr;
  int count = 0;
  for (auto& c : conns) {
    if (c->key != t.key || c->ph == connection::phase::dead || c->goaway) continue;
    ++count;
    int cap = streams_per_connection;
    if (c->ph == connection::phase::open) {
      uint32_t remote =
          nghttp2_session_get_remote_settings(c->session.get(), NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS);
      cap = static_cast<int>(std::min<uint32_t>(remote, streams_per_connection));
    }
    if (static_cast<int>(c->streams.size()) >= std::max(cap, 1)) continue;
    if (!best || c->streams.size() < best->streams.size()) best = c.get();
  }
  if (best) return best;
  if (count < max_connections_per_host) return open_connection(t);
  for (auto& c : conns)  // every connection is full: share the least loaded
    if (c->key == t.key && c->ph != connection::phase::dead && !c->goaway &&
        (!best || c->streams.size() < best->streams.size()))
      best = c.get();
  return best ? best : open_connection(t);
}

void pool::impl::check_deadlines() {
  const double stall = opts.low_speed_seconds;
  for (auto& cp : conns) {
    connection& c = *cp;
    if (c.ph == connection::phase::dead) continue;
    if ((c.ph == connection::phase::connecting || c.ph == connection::phase::handshaking) &&
        now >= c.connect_deadline) {
      fail_connection(
          c, CURLE_OPERATION_TIMEDOUT,
          fmt::format("Connection to {} timed out after {:.0f} ms", c.key, opts.connect_timeout * 1000));
      continue;
    }
    for (std::size_t i = 0; i < c.streams.size();) {
      stream* s = c.streams[i];
      outcome o;
      if (now >= s->deadline) {
        o.reason = fmt::format("Operation timed out after {:.0f} ms", opts.timeout * 1000);
      } else if (s->responding && stall > 0 &&
                 std::chrono::duration<double>(now - s->progress_at).count() > stall) {
        o.reason = fmt::format("no data for {:.0f} s: the transfer stalled", stall);
      } else {
        ++i;
        continue;
      }
      o.t = s->t;
      o.code = CURLE_OPERATION_TIMEDOUT;
      reset(c, *s);
      done->push_back(std::move(o));
    }
  }
}

// Stops a stream from our side: RST_STREAM CANCEL, and the transfer is let go.
void pool::impl::reset(connection& c, stream& s) {
  detach(c, s);
  if (c.session && c.ph != connection::phase::dead && s.id > 0) {
    nghttp2_submit_rst_stream(c.session.get(), NGHTTP2_FLAG_NONE, s.id, NGHTTP2_CANCEL);
  }
}

void pool::impl::sweep() {
  // Connections that ended, and idle ones that the server said goodbye to.
  conns.erase(std::remove_if(conns.begin(), conns.end(),
                             [&](std::unique_ptr<connection>& c) {
                               if (c->ph != connection::phase::dead && c->goaway && c->streams.empty())
                                 close_connection(*c);
                               return c->ph == connection::phase::dead;
                             }),
              conns.end());
}

}  // namespace backfill::http::h2
