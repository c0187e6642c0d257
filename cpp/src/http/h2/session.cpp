// nghttp2's side of a connection: the callbacks that queue frames for the socket (a DATA frame's
// payload pointing into the request body, not copied) and hand headers, data and stream ends to
// the transfers; and a request submitted as a stream.
#include <algorithm>
#include <charconv>

#include <fmt/format.h>

#include "backfill/core/log.hpp"
#include "http/h2/pool_impl.hpp"
#include "http/text.hpp"

namespace backfill::http::h2 {

thread_local loop_state* loop_state::current = nullptr;

namespace {

// (nghttp2's user_data is the connection.)
ssize_t on_send(nghttp2_session*, const uint8_t* data, std::size_t n, int, void* user) {
  auto* c = static_cast<connection*>(user);
  if (c->out_bytes >= queue_limit) return NGHTTP2_ERR_WOULDBLOCK;
  // Small frames go into the last copied segment while it has room and nothing of it is written.
  if (!c->out.empty() && !c->out.back().ext && c->out.back().off == 0 && c->out.back().own.size() < 16384) {
    c->out.back().own.append(reinterpret_cast<const char*>(data), n);
  } else {
    segment s;
    s.own.assign(reinterpret_cast<const char*>(data), n);
    c->out.push_back(std::move(s));
  }
  c->out_bytes += n;
  return static_cast<ssize_t>(n);
}

int on_send_data(nghttp2_session*, nghttp2_frame* frame, const uint8_t* head, std::size_t length,
                 nghttp2_data_source* source, void* user) {
  auto* c = static_cast<connection*>(user);
  auto* s = static_cast<stream*>(source->ptr);
  if (c->out_bytes >= queue_limit) return NGHTTP2_ERR_WOULDBLOCK;
  if (frame->data.padlen > 0) return NGHTTP2_ERR_CALLBACK_FAILURE;  // no padding is ever asked for
  on_send(nullptr, head, 9, 0, user);
  if (length > 0) {
    segment seg;
    seg.ext = s->body->data() + s->queued;
    seg.len = length;
    seg.hold = s->hold;
    c->out.push_back(std::move(seg));
    c->out_bytes += length;
    s->queued += length;
  }
  return 0;
}

ssize_t on_read(nghttp2_session*, std::int32_t, uint8_t*, std::size_t length, uint32_t* flags,
                nghttp2_data_source* source, void*) {
  auto* s = static_cast<stream*>(source->ptr);
  std::size_t n = std::min(length, s->body->size() - s->reserved);
  s->reserved += n;
  *flags |= NGHTTP2_DATA_FLAG_NO_COPY;
  if (s->reserved == s->body->size()) *flags |= NGHTTP2_DATA_FLAG_EOF;
  return static_cast<ssize_t>(n);
}

// DATA frames as large as the peer takes (its frame size limit and both flow-control windows), up
// to 1 MB: nghttp2 sizes a frame buffer by this even when the payload is not copied into it.
ssize_t on_read_length(nghttp2_session*, uint8_t, std::int32_t, std::int32_t session_window,
                       std::int32_t stream_window, uint32_t max_frame, void*) {
  std::int64_t n = std::min<std::int64_t>(
      {session_window, stream_window, static_cast<std::int64_t>(max_frame), std::int64_t{1} << 20});
  return static_cast<ssize_t>(std::max<std::int64_t>(n, 1));
}

stream* stream_of(nghttp2_session* session, std::int32_t id) {
  auto* s = static_cast<stream*>(nghttp2_session_get_stream_user_data(session, id));
  return s && s->t ? s : nullptr;
}

int on_header(nghttp2_session* session, const nghttp2_frame* frame, const uint8_t* name, std::size_t namelen,
              const uint8_t* value, std::size_t valuelen, uint8_t, void*) {
  if (frame->hd.type != NGHTTP2_HEADERS) return 0;
  stream* s = stream_of(session, frame->hd.stream_id);
  if (!s) return 0;
  std::string_view n(reinterpret_cast<const char*>(name), namelen),
      v(reinterpret_cast<const char*>(value), valuelen);
  s->progress_at = loop_state::current->now;
  if (n == ":status") {
    long status = 0;
    std::from_chars(v.data(), v.data() + v.size(), status);
    if (status >= 200) {
      s->status = status;
      s->responding = true;
      s->t->on_response_begin(status);
    }
    return 0;
  }
  if (!n.empty() && n.front() == ':') return 0;
  if (s->status >= 200) s->t->on_header(n, v);  // not the fields of a 1xx
  return 0;
}

int on_data(nghttp2_session* session, uint8_t, std::int32_t id, const uint8_t* data, std::size_t n, void*) {
  if (stream* s = stream_of(session, id)) {
    s->progress_at = loop_state::current->now;
    s->t->on_data(reinterpret_cast<const char*>(data), n);
  }
  return 0;
}

int on_frame(nghttp2_session*, const nghttp2_frame* frame, void* user) {
  if (frame->hd.type == NGHTTP2_GOAWAY) {
    auto* c = static_cast<connection*>(user);
    c->goaway = true;  // streams above last_stream_id are closed by nghttp2 as refused: retried
    logger()->debug("http2: {} sent GOAWAY ({})", c->key, nghttp2_http2_strerror(frame->goaway.error_code));
  }
  return 0;
}

int on_close(nghttp2_session* session, std::int32_t id, uint32_t code, void* user) {
  auto* s = static_cast<stream*>(nghttp2_session_get_stream_user_data(session, id));
  if (!s) return 0;
  auto* c = static_cast<connection*>(user);
  nghttp2_session_set_stream_user_data(session, id, nullptr);
  if (s->t) {
    outcome o;
    o.t = s->t;
    if (code == NGHTTP2_NO_ERROR && s->status >= 200) {
      o.status = s->status;
    } else if (code == NGHTTP2_NO_ERROR) {
      o.code = CURLE_HTTP2_STREAM;
      o.reason = fmt::format("HTTP/2 stream {} on {} closed without a response", id, c->key);
    } else {
      o.code = CURLE_HTTP2_STREAM;
      o.reason = fmt::format("HTTP/2 stream {} on {} was reset: {} (err {})", id, c->key,
                             nghttp2_http2_strerror(code), code);
      o.refused = code == NGHTTP2_REFUSED_STREAM;  // nghttp2's code for streams past a GOAWAY too
    }
    s->t->current = nullptr;
    erase_stream(c->streams, s);
    loop_state::current->done->push_back(std::move(o));
  } else {
    erase_stream(c->detached, s);
  }
  delete s;
  return 0;
}

}  // namespace

session_callbacks_ptr make_callbacks() {
  nghttp2_session_callbacks* raw = nullptr;
  nghttp2_session_callbacks_new(&raw);
  session_callbacks_ptr cb(raw);
  nghttp2_session_callbacks_set_send_callback(raw, &on_send);
  nghttp2_session_callbacks_set_send_data_callback(raw, &on_send_data);
  nghttp2_session_callbacks_set_data_source_read_length_callback(raw, &on_read_length);
  nghttp2_session_callbacks_set_on_header_callback(raw, &on_header);
  nghttp2_session_callbacks_set_on_data_chunk_recv_callback(raw, &on_data);
  nghttp2_session_callbacks_set_on_stream_close_callback(raw, &on_close);
  nghttp2_session_callbacks_set_on_frame_recv_callback(raw, &on_frame);
  return cb;
}

std::int32_t submit_request(connection& c, stream& s, const target& where, const std::string& user_agent) {
  const request& req = *s.t->req;
  std::vector<nghttp2_nv> nva;
  std::vector<std::string> lowered;
  lowered.reserve(req.headers.size() + 1);
  auto add = [&](std::string_view name, std::string_view value) {
    nva.push_back({reinterpret_cast<uint8_t*>(const_cast<char*>(name.data())),
                   reinterpret_cast<uint8_t*>(const_cast<char*>(value.data())), name.size(), value.size(),
                   NGHTTP2_NV_FLAG_NONE});
  };
  const std::string scheme = where.tls ? "https" : "http";
  add(":method", req.method);
  add(":scheme", scheme);
  add(":authority", where.authority);
  add(":path", where.path);
  bool has_ua = false;
  for (const auto& h : req.headers) {
    if (connection_specific(h.name)) continue;
    std::string& n = lowered.emplace_back(h.name);
    for (char& ch : n) ch = ascii_lower(ch);
    if (n == "te" && !iequals(h.value, "trailers")) continue;
    has_ua = has_ua || n == "user-agent";
    add(n, h.value);
  }
  if (!has_ua && !user_agent.empty()) add("user-agent", user_agent);

  nghttp2_data_provider provider{};
  provider.source.ptr = &s;
  provider.read_callback = &on_read;
  bool has_body = !req.body.empty();
  return c.session ? nghttp2_submit_request(c.session.get(), nullptr, nva.data(), nva.size(),
                                            has_body ? &provider : nullptr, &s)
                   : -1;
}

void erase_stream(std::vector<stream*>& list, stream* s) {
  auto it = std::find(list.begin(), list.end(), s);
  if (it != list.end()) list.erase(it);
}

void detach(connection& c, stream& s) {
  if (s.t) s.t->current = nullptr;
  s.t = nullptr;
  erase_stream(c.streams, &s);
  c.detached.push_back(&s);
}

}  // namespace backfill::http::h2
