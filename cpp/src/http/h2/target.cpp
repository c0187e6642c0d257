// Where a URL goes on the native path (scheme, host, port, path), and the rules for proxies and
// header fields that decide what may go this way.
#include <arpa/inet.h>
#include <netinet/in.h>

#include "backfill/core/split.hpp"
#include "http/h2/pool_impl.hpp"
#include "http/text.hpp"

namespace backfill::http::h2 {

bool parse_target(std::string_view url, target& t) {
  std::size_t sep = url.find("://");
  if (sep == std::string_view::npos) return false;
  std::string scheme;
  for (char c : url.substr(0, sep)) scheme.push_back(ascii_lower(c));
  if (scheme != "http" && scheme != "https") return false;
  t.tls = scheme == "https";
  std::string_view rest = url.substr(sep + 3);
  std::size_t end = rest.find_first_of("/?#");
  std::string_view auth = rest.substr(0, end);
  if (auth.find('@') != std::string_view::npos || auth.empty()) return false;  // user info: libcurl's job
  std::string_view path = end == std::string_view::npos ? std::string_view() : rest.substr(end);
  if (std::size_t hash = path.find('#'); hash != std::string_view::npos) path = path.substr(0, hash);
  std::string_view host = auth, port;
  if (auth.front() == '[') {
    std::size_t close = auth.find(']');
    if (close == std::string_view::npos) return false;
    host = auth.substr(1, close - 1);
    if (close + 1 < auth.size()) {
      if (auth[close + 1] != ':') return false;
      port = auth.substr(close + 2);
    }
  } else if (std::size_t colon = auth.rfind(':'); colon != std::string_view::npos) {
    host = auth.substr(0, colon);
    port = auth.substr(colon + 1);
  }
  if (host.empty()) return false;
  t.host.assign(host);
  t.port = port.empty() ? (t.tls ? "443" : "80") : std::string(port);
  t.authority.assign(auth);
  t.path = path.empty() ? "/" : std::string(path);
  if (t.path.front() == '?') t.path.insert(t.path.begin(), '/');
  t.key = scheme + "://";
  for (char c : auth) t.key.push_back(ascii_lower(c));
  return true;
}

bool is_ip_literal(const std::string& host) {
  unsigned char buf[sizeof(in6_addr)];
  return inet_pton(AF_INET, host.c_str(), buf) == 1 || inet_pton(AF_INET6, host.c_str(), buf) == 1;
}

bool connection_specific(std::string_view name) {
  for (std::string_view n : {"connection", "keep-alive", "proxy-connection", "transfer-encoding", "upgrade",
                             "host", "expect", "content-length"})
    if (iequals(name, n)) return true;
  return false;
}

bool no_proxy_matches(std::string_view list, std::string_view host) {
  std::string h;
  for (char c : host) h.push_back(ascii_lower(c));
  if (!h.empty() && h.front() == '[' && h.back() == ']') h = h.substr(1, h.size() - 2);
  for (std::string_view entry : split(list, ',')) {
    while (!entry.empty() && (entry.front() == ' ' || entry.front() == '\t')) entry.remove_prefix(1);
    while (!entry.empty() && (entry.back() == ' ' || entry.back() == '\t')) entry.remove_suffix(1);
    if (entry.empty()) continue;
    if (entry == "*") return true;
    if (entry.front() == '.') entry.remove_prefix(1);
    std::string e;
    for (char c : entry) e.push_back(ascii_lower(c));
    if (!e.empty() && e.front() == '[' && e.back() == ']') e = e.substr(1, e.size() - 2);
    if (h == e) return true;
    if (h.size() > e.size() && h.compare(h.size() - e.size(), e.size(), e) == 0 &&
        h[h.size() - e.size() - 1] == '.')
      return true;
  }
  return false;
}

}  // namespace backfill::http::h2
