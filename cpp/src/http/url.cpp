// URL helpers: Link headers, percent-encoding, query parameters.
#include "backfill/http/url.hpp"

#include <algorithm>
#include <cctype>

#include "http/text.hpp"

namespace backfill::http {

std::optional<std::string> link_rel(std::string_view header, std::string_view relation) {
  std::size_t i = 0;
  while (i < header.size()) {
    std::size_t lt = header.find('<', i);
    if (lt == std::string_view::npos) break;
    std::size_t gt = header.find('>', lt);
    if (gt == std::string_view::npos) break;
    std::string_view url = header.substr(lt + 1, gt - lt - 1);
    std::size_t end = header.find('<', gt);  // parameters run to the next link
    std::string_view params =
        header.substr(gt + 1, (end == std::string_view::npos ? header.size() : end) - gt - 1);
    std::size_t rel = params.find("rel=");
    if (rel != std::string_view::npos) {
      std::string_view v = params.substr(rel + 4);
      if (!v.empty() && v.front() == '"') {
        v.remove_prefix(1);
        v = v.substr(0, v.find('"'));
      } else {
        v = v.substr(0, std::min(v.find(';'), v.find(',')));
      }
      // rel may list several relation types separated by spaces
      std::size_t p = 0;
      while (p <= v.size()) {
        std::size_t sp = v.find(' ', p);
        if (sp == std::string_view::npos) sp = v.size();
        if (iequals(trim(v.substr(p, sp - p)), relation)) return std::string(url);
        p = sp + 1;
      }
    }
    i = gt + 1;
  }
  return std::nullopt;
}

std::optional<std::string> link_next(std::string_view header) { return link_rel(header, "next"); }

std::string url_encode(std::string_view s) {
  static const char* hex = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back('%');
      out.push_back(hex[c >> 4]);
      out.push_back(hex[c & 15]);
    }
  }
  return out;
}

std::string percent_decode(std::string_view s) {
  std::string out;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size() && std::isxdigit(static_cast<unsigned char>(s[i + 1])) &&
        std::isxdigit(static_cast<unsigned char>(s[i + 2]))) {
      out.push_back(static_cast<char>(std::stoi(std::string(s.substr(i + 1, 2)), nullptr, 16)));
      i += 2;
    } else if (s[i] == '+') {
      out.push_back(' ');
    } else {
      out.push_back(s[i]);
    }
  }
  return out;
}
std::string with_query(std::string_view url, std::string_view name, std::string_view value) {
  std::size_t hash = url.find('#');
  std::string_view fragment = hash == std::string_view::npos ? std::string_view{} : url.substr(hash);
  std::string_view base = url.substr(0, hash);
  std::size_t q = base.find('?');
  std::string out(base.substr(0, q));
  std::string query;
  if (q != std::string_view::npos) {
    std::string_view rest = base.substr(q + 1);
    std::size_t p = 0;
    while (p <= rest.size()) {
      std::size_t amp = rest.find('&', p);
      if (amp == std::string_view::npos) amp = rest.size();
      std::string_view part = rest.substr(p, amp - p);
      std::string_view key = part.substr(0, part.find('='));
      if (!part.empty() && percent_decode(key) != name) {
        if (!query.empty()) query += '&';
        query += part;
      }
      p = amp + 1;
    }
  }
  if (!query.empty()) query += '&';
  query += url_encode(name) + "=" + url_encode(value);
  out += "?" + query;
  out += fragment;
  return out;
}

std::string url_origin(std::string_view url) {
  std::size_t scheme = url.find("://");
  if (scheme == std::string_view::npos || scheme == 0 || url.find_first_of("/?#") < scheme) return {};
  std::size_t authority = scheme + 3;
  std::size_t end = url.find_first_of("/?#", authority);
  std::string_view auth = url.substr(authority, end == std::string_view::npos ? end : end - authority);
  std::size_t at = auth.rfind('@');
  if (at != std::string_view::npos) auth.remove_prefix(at + 1);
  return std::string(url.substr(0, authority)) + std::string(auth);
}

}  // namespace backfill::http
