// The Pinecone sink's reading of a JSON answer, shared by its upserts and its reads.
#pragma once

#include <simdjson.h>

#include "backfill/http/client.hpp"

namespace backfill::pinecone_detail {

// The body of `r` parsed (in place when it has simdjson's padding); a sink_error naming the URL
// when it is not JSON.
simdjson::dom::element parse(simdjson::dom::parser& p, const http::response& r);

}  // namespace backfill::pinecone_detail
