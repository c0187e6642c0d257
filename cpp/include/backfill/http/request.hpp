// What goes over the wire and comes back: a request, its response, and their header fields.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace backfill::json {
class text_index;  // core/json_walk.hpp
}  // namespace backfill::json

namespace backfill::http {

struct header {
  std::string name;
  std::string value;
};

struct request {
  std::string method = "GET";
  std::string url;
  std::vector<header> headers;
  std::string body;
  // A gRPC call (HTTP/2, application/grpc): it succeeded only when its grpc-status (from the
  // trailers, or a trailers-only response) is 0; other statuses are retried or failed by code.
  bool grpc = false;
  // What the request takes from its client's quota (client_options::quota) besides one request: the
  // tokens of an embeddings request, say.
  double quota_tokens = 0;
  // The answer is JSON: a 2xx whose body is not whole JSON (cut short, malformed) is retried as a
  // transient failure. A whole body whose strings hold invalid UTF-8 passes (core/json_items.hpp).
  bool expect_json = false;
};

struct response {
  long status = 0;
  std::vector<header> headers;  // names lowercased, in arrival order (of the final attempt)
  std::string body;             // decoded; capacity leaves simdjson's padding
  int attempts = 0;
  double seconds = 0;  // from submission to completion, retries included
  std::string url;     // scrubbed
  // The body's stage-1 index, made by the check of an expect_json answer: the reader walks it
  // (json::walk::over) instead of indexing the body again. Kept with the body's memory when recycled.
  std::shared_ptr<json::text_index> index;

  // The last value of a header (case-insensitive name), or nullptr.
  const std::string* find(std::string_view name) const;
  // Whether that last value is `value`.
  bool has(std::string_view name, std::string_view value) const {
    const std::string* v = find(name);
    return v && *v == value;
  }
  // The server's request id: x-request-id, x-github-request-id, x-pinecone-request-id, x-arequestid, ...
  std::string request_id() const;
};

}  // namespace backfill::http
