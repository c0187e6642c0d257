// What OpenAI's error answers mean: the quota verdict the HTTP engine applies, and the one-line
// explanations of a refused key or an exhausted quota.
#include <fmt/format.h>
#include <simdjson.h>

#include "backfill/core/errors.hpp"
#include "backfill/embed/openai.hpp"

namespace backfill {
namespace openai {

bool out_of_quota(long status, std::string_view body) {
  return status == 429 && body.find("insufficient_quota") != std::string_view::npos;
}

http::verdict classify_response(const http::response& r) {
  if (out_of_quota(r.status, r.body))
    return http::verdict::quota("insufficient_quota: the account is out of credit");
  return http::verdict::pass();
}

}  // namespace openai

namespace {

std::string safe_code(std::string_view s) {
  std::string out;
  for (char c : s.substr(0, 64))
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-')
      out.push_back(c);
  return out;
}

// The error code of an OpenAI error body ({"error":{"code":...,"type":...}}), if it can be read.
std::string error_code(std::string_view body) {
  simdjson::dom::parser p;
  simdjson::dom::element root;
  if (p.parse(body.data(), body.size()).get(root)) return {};
  std::string_view code;
  if (!root.at_pointer("/error/code").get(code) && !code.empty()) return safe_code(code);
  if (!root.at_pointer("/error/type").get(code) && !code.empty()) return safe_code(code);
  return {};
}
}  // namespace

std::exception_ptr openai_embedder::explain(const http::http_error& e) const {
  const std::exception_ptr cause = std::make_exception_ptr(e);  // the status and request id stay reachable
  const std::string code = error_code(e.body_excerpt());
  const std::string rid = e.request_id().empty() ? "" : fmt::format("; request id {}", e.request_id());
  if (e.status() == 401)
    return std::make_exception_ptr(
        embed_error(fmt::format("{}: the API key was refused (401 Unauthorized{}{}); check embedder.api_key",
                                where_, code.empty() ? "" : ": " + code, rid),
                    cause));
  // A key that is known but may not embed: a restricted key without the permission, or a project
  // without the model.
  if (e.status() == 403)
    return std::make_exception_ptr(embed_error(
        fmt::format("{}: the API key was refused (403 Forbidden{}{}); check embedder.api_key: a restricted "
                    "key needs the Model capabilities permission (scope model.request), and its project "
                    "access to embedder.model",
                    where_, code.empty() ? "" : ": " + code, rid),
        cause));
  if (openai::out_of_quota(e.status(), e.body_excerpt()))
    return std::make_exception_ptr(
        embed_error(fmt::format("{}: the account is out of quota (429 insufficient_quota{}); add credit or "
                                "raise its usage limit, then run "
                                "again",
                                where_, rid),
                    cause));
  return cause;
}

}  // namespace backfill
