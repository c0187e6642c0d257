// Following a redirect, for a client that allows it (client_options::max_redirects): the request
// is rewritten for its new target and queued again; across origins it loses its secret headers and
// never takes its body along.
#include "backfill/core/log.hpp"
#include "backfill/http/url.hpp"
#include "http/engine.hpp"
#include "http/text.hpp"

namespace backfill::http {
namespace {

bool secret_header(std::string_view name, const std::vector<std::string>& more) {
  for (std::string_view s : {"authorization", "proxy-authorization", "cookie", "api-key"})
    if (iequals(name, s)) return true;
  for (const auto& s : more)
    if (iequals(name, s)) return true;
  return false;
}

bool http_or_https(std::string_view origin) {
  return iequals(origin.substr(0, 7), "http://") || iequals(origin.substr(0, 8), "https://");
}

}  // namespace

// False when the redirect is not followed: the client follows none, or no more, or it has no usable
// Location, or following it would carry a body to another origin. Then the 3xx fails (retry_rules.cpp).
bool client::impl::follow_redirect(pending& p, const response& r, long status) {
  if (p.redirects >= opts.max_redirects || p.req.grpc) return false;
  const std::string* location = r.find("location");
  if (!location || location->empty()) return false;
  const std::string from = url_origin(p.req.url);
  std::string target;
  if (!url_origin(*location).empty())
    target = *location;
  else if (location->front() == '/' && location->compare(0, 2, "//") != 0)
    target = from + *location;  // a path on the same host
  else
    return false;
  const std::string to = url_origin(target);
  if (!http_or_https(to)) return false;
  const bool cross = !iequals(to, from);
  const bool as_get = status == 303 || ((status == 301 || status == 302) && p.req.method == "POST");
  if (as_get) {
    p.req.method = "GET";
    p.req.body.clear();
  } else if (cross && !p.req.body.empty()) {
    return false;
  }
  if (cross)
    std::erase_if(p.req.headers, [&](const header& h) { return secret_header(h.name, opts.secret_headers); });
  logger()->debug("http: {} {} -> {}; following it to {}", p.req.method, scrub_url(p.req.url), status,
                  scrub_url(target));
  p.req.url = std::move(target);
  p.host = host_key_of(p.req.url);
  p.header_lines.clear();
  p.header_nodes.clear();
  ++p.redirects;
  return true;
}

}  // namespace backfill::http
