// Looking up the header fields of a response.
#include "backfill/http/request.hpp"

#include "http/text.hpp"

namespace backfill::http {

const std::string* response::find(std::string_view name) const {
  const std::string* found = nullptr;
  for (const auto& h : headers)
    if (iequals(h.name, name)) found = &h.value;
  return found;
}

std::string response::request_id() const {
  for (const char* n : {"x-request-id", "x-github-request-id", "x-pinecone-request-id", "x-arequestid",
                        "x-slack-req-id", "request-id", "x-amzn-requestid"})
    if (const auto* v = find(n)) return *v;
  return {};
}

}  // namespace backfill::http
