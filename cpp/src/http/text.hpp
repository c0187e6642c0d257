// Small helpers the engine's files share: ASCII case folding and trimming, conditional headers,
// percent-decoding, and the first environment variable set of a list.
#pragma once

#include <cctype>
#include <cstdlib>
#include <initializer_list>
#include <string>
#include <string_view>

namespace backfill::http {

inline char ascii_lower(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }

inline bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i)
    if (ascii_lower(a[i]) != ascii_lower(b[i])) return false;
  return true;
}

// A header that makes a request conditional (a 304 answers it when nothing changed).
inline bool conditional_header(std::string_view name) {
  return iequals(name, "if-none-match") || iequals(name, "if-modified-since");
}

inline std::string_view trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return s;
}

inline std::string env_first(std::initializer_list<const char*> names) {
  for (const char* n : names)
    if (const char* v = std::getenv(n); v && *v) return v;
  return {};
}

// %XX decoded, '+' as a space (as query strings have it).
std::string percent_decode(std::string_view s);

}  // namespace backfill::http
