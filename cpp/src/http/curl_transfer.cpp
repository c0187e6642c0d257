// A transfer on a libcurl easy handle (engine.hpp): the options every handle of the client shares,
// set once; the header lists; what a request changes; the write and header callbacks; and the
// watch for stalled bodies.
#include <fmt/format.h>

#include "backfill/http/ca_bundle.hpp"
#include "http/engine.hpp"
#include "http/text.hpp"

#ifndef BACKFILL_VERSION
#define BACKFILL_VERSION "0"
#endif

namespace backfill::http {

namespace {

bool has_header(const std::vector<header>& headers, std::string_view name) {
  for (const auto& h : headers)
    if (iequals(h.name, name)) return true;
  return false;
}

// What libcurl sends for CURLOPT_ACCEPT_ENCODING "" (every decoder it was built with, in its
// order), as a header line; "" when it has none.
std::string accept_encoding_line() {
  const curl_version_info_data* v = curl_version_info(CURLVERSION_NOW);
  std::string list;
  auto add = [&](const char* name) { list += (list.empty() ? "" : ", ") + std::string(name); };
  if (v->features & CURL_VERSION_LIBZ) {
    add("deflate");
    add("gzip");
  }
#ifdef CURL_VERSION_BROTLI
  if (v->features & CURL_VERSION_BROTLI) add("br");
#endif
#ifdef CURL_VERSION_ZSTD
  if (v->features & CURL_VERSION_ZSTD) add("zstd");
#endif
  return list.empty() ? "" : "Accept-Encoding: " + list;
}

}  // namespace

client::impl::libcurl_ready::libcurl_ready() {
  static const bool once = curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK;
  (void)once;
}

void client::impl::prepare_shared_headers() {
  if (opts.user_agent.empty()) opts.user_agent = std::string("backfill/") + BACKFILL_VERSION;
  if (opts.ca_bundle.empty()) opts.ca_bundle = default_ca_bundle();
  ua_line = "User-Agent: " + opts.user_agent;
  proxy_ua_line = ua_line;
  ae_line = accept_encoding_line();
  expect_node = {const_cast<char*>("Expect:"), nullptr};
  for (int body = 0; body < 2; ++body) {
    curl_slist* tail = body ? &expect_node : nullptr;
    ae_node[body] = {ae_line.data(), tail};
    ua_node[body] = {ua_line.data(), ae_line.empty() ? tail : &ae_node[body]};
    ua_only_node[body] = {ua_line.data(), tail};
  }
  proxy_ua_node = {proxy_ua_line.data(), nullptr};
}

easy_slot* client::impl::acquire_slot() {
  if (!idle.empty()) {
    easy_slot* s = idle.back();
    idle.pop_back();
    return s;
  }
  auto s = std::make_unique<easy_slot>();
  s->easy.reset(curl_easy_init());
  s->pool = &shells;
  CURL* e = s->easy.get();
  curl_easy_setopt(e, CURLOPT_PRIVATE, s.get());
  curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(e, CURLOPT_SHARE, share.get());
  curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, &impl::on_body);
  curl_easy_setopt(e, CURLOPT_WRITEDATA, s.get());
  curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, &impl::on_header);
  curl_easy_setopt(e, CURLOPT_HEADERDATA, s.get());
  curl_easy_setopt(e, CURLOPT_ERRORBUFFER, s->errbuf);
  // Decoding on; the Accept-Encoding line itself is in the header list.
  curl_easy_setopt(e, CURLOPT_ACCEPT_ENCODING, "");
  curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(opts.connect_timeout * 1000));
  curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, static_cast<long>(opts.timeout * 1000));
  // No CURLOPT_LOW_SPEED_*: libcurl's check also counts the wait for a response to begin (a slow
  // search, a long embeddings call), which only `timeout` bounds; check_stalls() watches bodies.
  // libcurl follows no redirect: a 3xx fails, naming where it pointed (retry_rules.cpp), unless the
  // engine follows it itself without the secrets (redirect.cpp), so a credential header or a body
  // never reaches a host it was not configured for. Only http and https are spoken, so a URL cannot
  // read a local file or talk another protocol.
  curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
#if LIBCURL_VERSION_NUM >= 0x075500
  curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(e, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
#else
  curl_easy_setopt(e, CURLOPT_PROTOCOLS, static_cast<long>(CURLPROTO_HTTP | CURLPROTO_HTTPS));
  curl_easy_setopt(e, CURLOPT_REDIR_PROTOCOLS, static_cast<long>(CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
  curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
  // Bodies are read up to 64 KiB a call instead of libcurl's 16 KiB: a run's reads and polls drop
  // by ~20,000 for 3,000 Jira issues (strace -c). 256 KiB saved a few thousand more but added
  // ~14 MB of peak RSS (the buffer is the slot's, and every slot keeps one).
  curl_easy_setopt(e, CURLOPT_BUFFERSIZE, 64L * 1024);
  if (opts.http2 || opts.http2_prior_knowledge)
    curl_easy_setopt(e, CURLOPT_UPLOAD_BUFFERSIZE, 2L * 1024 * 1024);
  curl_easy_setopt(e, CURLOPT_HTTP_VERSION,
                   opts.http2_prior_knowledge ? CURL_HTTP_VERSION_2_PRIOR_KNOWLEDGE
                   : opts.http2               ? CURL_HTTP_VERSION_2TLS
                                              : CURL_HTTP_VERSION_1_1);
  // libcurl before 8.0.0 fails every transfer after the first on an h2c prior-knowledge
  // connection ("Error in the HTTP2 framing layer": curl issue 10634, fixed by PR 10643), so
  // there each transfer gets a connection of its own.
  if (opts.http2_prior_knowledge && curl_version_info(CURLVERSION_NOW)->version_num < 0x080000) {
    curl_easy_setopt(e, CURLOPT_FRESH_CONNECT, 1L);
    curl_easy_setopt(e, CURLOPT_FORBID_REUSE, 1L);
  }
  // No CURLOPT_USERAGENT: libcurl would format its line again before every transfer. The line is
  // in the header list, and in the proxy's header list for CONNECT.
  curl_easy_setopt(e, CURLOPT_PROXYHEADER, &proxy_ua_node);
  curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, opts.verify_tls ? 1L : 0L);
  curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, opts.verify_tls ? 2L : 0L);
  if (!opts.ca_bundle.empty()) curl_easy_setopt(e, CURLOPT_CAINFO, opts.ca_bundle.c_str());
  if (!opts.proxy.empty()) curl_easy_setopt(e, CURLOPT_PROXY, opts.proxy.c_str());
  slots.push_back(std::move(s));
  return slots.back().get();
}

// The header list of a request: its own lines, then the client's (without a line the request
// sets itself).
curl_slist* client::impl::header_list(pending& p, bool body) {
  const request& r = p.req;
  bool own_ua = has_header(r.headers, "user-agent");
  bool own_ae = has_header(r.headers, "accept-encoding") || ae_line.empty();
  curl_slist* shared = own_ua ? (own_ae ? (body ? &expect_node : nullptr) : &ae_node[body])
                              : (own_ae ? &ua_only_node[body] : &ua_node[body]);
  if (r.headers.empty()) return shared;
  if (p.header_nodes.empty()) {
    p.header_lines.reserve(r.headers.size());
    for (const auto& hd : r.headers) p.header_lines.push_back(hd.name + ": " + hd.value);
    p.header_nodes.resize(p.header_lines.size());
    for (std::size_t i = 0; i < p.header_lines.size(); ++i)
      p.header_nodes[i] = {p.header_lines[i].data(),
                           i + 1 < p.header_lines.size() ? &p.header_nodes[i + 1] : shared};
  }
  return &p.header_nodes.front();
}

void client::impl::start_curl(const handle& h, host_state& hs) {
  easy_slot* s = acquire_slot();
  CURL* e = s->easy.get();
  s->current = h;
  s->errbuf[0] = '\0';
  h->slot = s;
  begin_attempt(*h);
  const request& r = h->req;
  curl_easy_setopt(e, CURLOPT_URL, r.url.c_str());
  // The method: first undo what an earlier transfer of this handle set, then set this one's.
  if (s->post_fields) {
    curl_easy_setopt(e, CURLOPT_POSTFIELDS, static_cast<const char*>(nullptr));
    curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(-1));
    s->post_fields = false;
  }
  curl_easy_setopt(e, CURLOPT_HTTPGET, 1L);  // GET, no upload, no NOBODY
  const char* custom = nullptr;
  if (r.method == "GET" && r.body.empty()) {
  } else if (r.method == "HEAD") {
    curl_easy_setopt(e, CURLOPT_NOBODY, 1L);
  } else if (r.body.empty() && r.method != "POST" && r.method != "PUT" && r.method != "PATCH") {
    custom = r.method.c_str();  // DELETE and friends: no body
  } else {
    custom = r.method.c_str();
    curl_easy_setopt(e, CURLOPT_POSTFIELDS, r.body.data());
    curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(r.body.size()));
    s->post_fields = true;
  }
  if (custom || s->custom_method) curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, custom);
  s->custom_method = custom != nullptr;
  curl_easy_setopt(e, CURLOPT_HTTPHEADER, header_list(*h, s->post_fields));
  curl_multi_add_handle(multi.get(), e);
  count_started(hs);
}

// Ends a slot's transfer (after curl_multi_remove_handle): the handle goes back to the idle ones.
void client::impl::release(easy_slot& s) {
  if (s.current) s.current->slot = nullptr;
  s.current.reset();
  idle.push_back(&s);
}

void client::impl::finish(CURL* e, CURLcode rc) {
  easy_slot* s = nullptr;
  curl_easy_getinfo(e, CURLINFO_PRIVATE, reinterpret_cast<char**>(&s));
  curl_multi_remove_handle(multi.get(), e);
  if (!s || !s->current) return;
  handle h = s->current;
  long status = 0;
  curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status);
  std::string curl_reason;
  if (rc != CURLE_OK) curl_reason = s->errbuf[0] ? std::string(s->errbuf) : curl_easy_strerror(rc);
  if (rc == CURLE_ABORTED_BY_CALLBACK && h->stalled) {
    rc = CURLE_OPERATION_TIMEDOUT;  // a stalled transfer is a timeout: retryable
    curl_reason = fmt::format("no data for {:.0f} s: the transfer stalled", opts.low_speed_seconds);
  }
  release(*s);
  conclude(h, rc, status, std::move(curl_reason));
}

// libcurl's own low-speed check averages over several seconds, so a burst followed by silence
// goes unnoticed for a while; this notices silence itself. Every 100 ms (the loop never sleeps
// longer), each transfer's byte counts are compared with the last look: once its response has
// begun, a transfer whose counts have not moved for low_speed_seconds is abandoned as stalled.
// (A progress callback would do the same at the price of a call and a clock reading for every
// transfer on every pass of libcurl.)
void client::impl::check_stalls() {
  stall_check = loop_now + std::chrono::milliseconds(100);
  const double limit = opts.low_speed_seconds;
  for (auto& slot : slots) {
    easy_slot* s = slot.get();
    if (!s->current) continue;
    pending& p = *s->current;
    curl_off_t down = 0, up = 0;
    curl_easy_getinfo(s->easy.get(), CURLINFO_SIZE_DOWNLOAD_T, &down);
    curl_easy_getinfo(s->easy.get(), CURLINFO_SIZE_UPLOAD_T, &up);
    if (down + up != p.progress_bytes) {
      p.progress_bytes = down + up;
      p.progress_at = loop_now;
    } else if (p.responding && limit > 0 &&
               std::chrono::duration<double>(loop_now - p.progress_at).count() > limit) {
      p.stalled = true;
      finish(s->easy.get(), CURLE_ABORTED_BY_CALLBACK);  // as if a progress callback had aborted it
    }
  }
}

std::size_t client::impl::on_body(char* data, std::size_t size, std::size_t n, void* user) {
  auto* s = static_cast<easy_slot*>(user);
  std::size_t bytes = size * n;
  append_body(*s->pool, s->current->building, data, bytes);
  return bytes;
}

std::size_t client::impl::on_header(char* data, std::size_t size, std::size_t n, void* user) {
  auto* s = static_cast<easy_slot*>(user);
  pending* p = s->current.get();
  std::size_t bytes = size * n;
  std::string_view line(data, bytes);
  if (line.size() >= 5 && line.compare(0, 5, "HTTP/") == 0) {
    p->header_count = 0;  // a new response (redirect, 100-continue) starts
    p->responding = true;
    p->progress_at = clock::now();
    return bytes;
  }
  std::size_t colon = line.find(':');
  if (colon == std::string_view::npos) return bytes;
  std::string_view value = line.substr(colon + 1);
  while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) value.remove_prefix(1);
  while (!value.empty() && (value.back() == '\r' || value.back() == '\n' || value.back() == ' '))
    value.remove_suffix(1);
  store_header(*s->pool, p->building, p->header_count, line.substr(0, colon), value);
  return bytes;
}

}  // namespace backfill::http
