// The Pinecone sink's reading of its answers, shared by its upserts, its reads and its checks.
#pragma once

#include <simdjson.h>

#include "backfill/http/client.hpp"
#include "backfill/sinks/sink.hpp"

namespace backfill::pinecone_detail {

// The gRPC statuses of a refused key and of a missing permission (UNAUTHENTICATED, PERMISSION_DENIED).
constexpr int grpc_unauthenticated = 16;
constexpr int grpc_permission_denied = 7;

// The body of `r` parsed (in place when it has simdjson's padding); a sink_error naming the URL
// when it is not JSON.
simdjson::dom::element parse(simdjson::dom::parser& p, const http::response& r);

// A describe_index_stats answer read: the index's dimension and the records of namespace `ns` (as
// sent: the default namespace is "__default__", which the answer may also write as "").
sink_stats read_stats(simdjson::dom::element root, const std::string& ns);

}  // namespace backfill::pinecone_detail
