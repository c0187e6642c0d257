// A gRPC call on the engine's own HTTP/2 connections (h2/connection.hpp) instead of a libcurl
// easy handle: the same attempt, limits and retries; the pool reports how it ended.
#include "http/engine.hpp"

namespace backfill::http {

void client::impl::start_native(const handle& h, host_state& hs) {
  begin_attempt(*h);
  h->native.p = h.get();
  h->native.pool = &shells;
  h->native.req = &h->req;
  h->native.keep_alive = h;  // for writes still queued after the call ends; reset then
  h->on_native = true;
  native_running.emplace(&h->native, h);
  count_started(hs);
  native->start(h->native, loop_now);
}

// A call on the native path ended; false when it was no longer running (cancelled meanwhile).
bool client::impl::finish_native(h2::outcome& o) {
  auto it = native_running.find(o.t);
  if (it == native_running.end()) return false;
  handle h = std::move(it->second);
  native_running.erase(it);
  h->on_native = false;
  h->native.keep_alive.reset();
  conclude(h, o.code, o.status, std::move(o.reason), o.refused);
  return true;
}

}  // namespace backfill::http
