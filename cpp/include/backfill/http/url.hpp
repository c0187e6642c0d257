// URL helpers for the adapters: query parameters, percent-encoding, Link headers.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace backfill::http {

// The URL of rel="next" in a Link header.
std::optional<std::string> link_next(std::string_view link_header);
// The URL of a relation ("next", "last", ...) in a Link header.
std::optional<std::string> link_rel(std::string_view link_header, std::string_view relation);
// Percent-encodes everything but the unreserved characters (RFC 3986).
std::string url_encode(std::string_view s);
// `url` with query parameter `name` set to `value` (percent-encoded), replacing any earlier value.
std::string with_query(std::string_view url, std::string_view name, std::string_view value);
// "scheme://host[:port]" of an absolute URL, without user info, path, query or fragment; "" for a
// relative one.
std::string url_origin(std::string_view url);

}  // namespace backfill::http
