// TLS on the native path: one context per pool (ALPN "h2", TLS 1.2 or later, the CA bundle libcurl
// would use), and per connection the handshake with the peer's certificate and host name (or IP
// address) verified as libcurl would.
#include <openssl/err.h>
#include <openssl/x509v3.h>

#include <cerrno>
#include <cstring>

#include <fmt/format.h>

#include "http/h2/pool_impl.hpp"

namespace backfill::http::h2 {

std::string openssl_error() {
  unsigned long e = ERR_get_error();
  ERR_clear_error();
  if (!e) return "unknown TLS error";
  char buf[256];
  ERR_error_string_n(e, buf, sizeof buf);
  return buf;
}

SSL_CTX* pool::impl::tls_context() {
  if (tls_ctx || !tls_ctx_error.empty()) return tls_ctx.get();
  ssl_ctx_ptr owned(SSL_CTX_new(TLS_client_method()));
  SSL_CTX* ctx = owned.get();
  if (!ctx) {
    tls_ctx_error = openssl_error();
    return nullptr;
  }
  SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
  SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
  static const unsigned char alpn[] = {2, 'h', '2'};
  SSL_CTX_set_alpn_protos(ctx, alpn, sizeof alpn);
  if (opts.verify_tls) {
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, nullptr);
    bool loaded = opts.ca_bundle.empty()
                      ? SSL_CTX_set_default_verify_paths(ctx) == 1
                      : SSL_CTX_load_verify_locations(ctx, opts.ca_bundle.c_str(), nullptr) == 1;
    if (!loaded) {
      tls_ctx_error = fmt::format("error setting certificate file: {} ({})",
                                  opts.ca_bundle.empty() ? "the system's default CA paths" : opts.ca_bundle,
                                  openssl_error());
      return nullptr;  // (`owned` frees the context)
    }
  } else {
    SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, nullptr);
  }
  tls_ctx = std::move(owned);
  return ctx;
}

// The socket is connected: TLS begins on it.
bool pool::impl::start_tls(connection& c) {
  SSL_CTX* ctx = tls_context();
  if (!ctx) {
    fail_connection(c, CURLE_SSL_CACERT_BADFILE, tls_ctx_error);
    return false;
  }
  c.ssl.reset(SSL_new(ctx));
  SSL_set_fd(c.ssl.get(), c.fd);
  if (is_ip_literal(c.where.host)) {
    if (opts.verify_tls) X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(c.ssl.get()), c.where.host.c_str());
  } else {
    SSL_set_tlsext_host_name(c.ssl.get(), c.where.host.c_str());
    if (opts.verify_tls) SSL_set1_host(c.ssl.get(), c.where.host.c_str());
  }
  c.ph = connection::phase::handshaking;
  return handshake(c);
}

bool pool::impl::handshake(connection& c) {
  int rc = SSL_connect(c.ssl.get());
  if (rc == 1) {
    const unsigned char* proto = nullptr;
    unsigned len = 0;
    SSL_get0_alpn_selected(c.ssl.get(), &proto, &len);
    if (len != 2 || std::memcmp(proto, "h2", 2) != 0) {
      fail_connection(
          c, CURLE_UNSUPPORTED_PROTOCOL,
          fmt::format("{} did not agree to HTTP/2 in the TLS handshake (ALPN), which gRPC needs", c.key));
      return false;
    }
    c.ph = connection::phase::open;
    return true;
  }
  int e = SSL_get_error(c.ssl.get(), rc);
  if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
    c.ssl_wants = e == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT;
    return true;
  }
  long verify = SSL_get_verify_result(c.ssl.get());
  if (opts.verify_tls && verify != X509_V_OK) {
    fail_connection(c, CURLE_PEER_FAILED_VERIFICATION,
                    fmt::format("SSL certificate problem: {}", X509_verify_cert_error_string(verify)));
  } else {
    std::string why =
        e == SSL_ERROR_SYSCALL ? (errno ? std::strerror(errno) : "the connection closed") : openssl_error();
    fail_connection(c, CURLE_SSL_CONNECT_ERROR, fmt::format("TLS handshake with {} failed: {}", c.key, why));
  }
  return false;
}

}  // namespace backfill::http::h2
