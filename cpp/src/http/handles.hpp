// Move-only owners of the C handles the engine uses (libcurl's; OpenSSL's and nghttp2's on the
// native HTTP/2 path): each is freed once, by its owner's destructor, and copying one is a compile
// error. The header lists the engine hands libcurl are curl_slist nodes it owns itself
// (engine.hpp), never lists libcurl allocated, so there is no curl_slist to free.
#pragma once

#include <curl/curl.h>
#include <nghttp2/nghttp2.h>
#include <openssl/ssl.h>

#include <memory>

namespace backfill::http {

// std::unique_ptr's deleter calling the C library's own free function.
template <auto free_fn>
struct c_free {
  template <class T>
  void operator()(T* p) const noexcept {
    free_fn(p);
  }
};
template <class T, auto free_fn>
using c_handle = std::unique_ptr<T, c_free<free_fn>>;

using easy_handle = c_handle<CURL, curl_easy_cleanup>;
using multi_handle = c_handle<CURLM, curl_multi_cleanup>;   // free its easy handles first
using share_handle = c_handle<CURLSH, curl_share_cleanup>;  // ... and the multi handle

namespace h2 {
using ssl_ptr = c_handle<SSL, SSL_free>;
using ssl_ctx_ptr = c_handle<SSL_CTX, SSL_CTX_free>;
using session_ptr = c_handle<nghttp2_session, nghttp2_session_del>;
using session_callbacks_ptr = c_handle<nghttp2_session_callbacks, nghttp2_session_callbacks_del>;
}  // namespace h2

}  // namespace backfill::http
