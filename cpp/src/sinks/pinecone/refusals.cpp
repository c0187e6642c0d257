// What Pinecone's refusals mean: the http_error of a 401 (gRPC UNAUTHENTICATED) or a 403
// (PERMISSION_DENIED) gets the setting to fix at the end of its line.
#include <fmt/format.h>

#include "backfill/core/errors.hpp"
#include "backfill/sinks/pinecone/pinecone.hpp"
#include "parse.hpp"

namespace backfill {

using pinecone_detail::grpc_permission_denied;
using pinecone_detail::grpc_unauthenticated;

std::exception_ptr pinecone_sink::explain(const http::http_error& e) const {
  std::string fix;
  if (e.status() == 401 || e.grpc_status() == grpc_unauthenticated)
    fix =
        "Pinecone refused the API key: check sink.api_key, which must be a key of the project that holds "
        "this index (app.pinecone.io, API Keys)";
  else if (e.status() == 403 || e.grpc_status() == grpc_permission_denied)
    fix =
        "the key in sink.api_key lacks permission: give it ReadWrite access to the data plane, or use a "
        "key of the project that holds the index named by sink.host";
  else
    return std::make_exception_ptr(e);
  // Still the engine's error (status, request id, attempts stay), its line ending in the fix.
  return std::make_exception_ptr(http::http_error(fmt::format("{}; {}", e.what(), fix), e.status(),
                                                  e.method(), e.url(), e.request_id(), e.body_excerpt(),
                                                  e.attempts(), e.retryable(), e.grpc_status()));
}

http::response pinecone_sink::wait(http::client& client, const http::client::handle& h) const {
  try {
    return client.wait(h);
  } catch (const http::http_error& e) {
    std::rethrow_exception(explain(e));
  }
}

}  // namespace backfill
