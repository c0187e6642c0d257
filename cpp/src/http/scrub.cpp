// Scrubbing: URLs without user info or credential parameters, texts without the client's secrets
// or well-known token shapes, and short valid-UTF-8 excerpts of bodies for messages.
#include "backfill/http/scrub.hpp"

#include <algorithm>
#include <cctype>
#include <cstdint>

#include "backfill/core/json.hpp"
#include "backfill/http/url.hpp"
#include "http/text.hpp"

namespace backfill::http {
namespace {

constexpr std::string_view sensitive_params[] = {"token",
                                                 "access_token",
                                                 "refresh_token",
                                                 "id_token",
                                                 "api_key",
                                                 "apikey",
                                                 "key",
                                                 "password",
                                                 "passwd",
                                                 "secret",
                                                 "client_secret",
                                                 "signature",
                                                 "sig",
                                                 "auth",
                                                 "code",
                                                 "x-amz-signature",
                                                 "x-amz-credential",
                                                 "x-amz-security-token",
                                                 "session",
                                                 "private_token",
                                                 "subscription-key",
                                                 "api-key",
                                                 "access-token",
                                                 "client_id"};

bool token_char(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-' || c == '.' || c == '=' ||
         c == '+' || c == '/';
}

}  // namespace

std::string scrub_url(std::string_view url) {
  std::string out;
  scrub_url(url, out);
  return out;
}

void scrub_url(std::string_view url, std::string& out) {
  out.clear();
  if (std::none_of(url.begin(), url.end(), [](char c) { return c == '?' || c == '@'; })) {
    out.append(url);  // no user info, no query: nothing to hide
    return;
  }
  std::size_t scheme = url.find("://");
  std::size_t authority = scheme == std::string_view::npos ? 0 : scheme + 3;
  std::size_t path = url.find_first_of("/?#", authority);
  if (path == std::string_view::npos) path = url.size();
  std::string_view auth = url.substr(authority, path - authority);
  std::size_t at = auth.rfind('@');
  out.append(url.substr(0, authority));
  out.append(at == std::string_view::npos ? auth : auth.substr(at + 1));
  std::string_view rest = url.substr(path);
  std::size_t q = rest.find('?');
  if (q == std::string_view::npos) {
    out.append(rest);
    return;
  }
  out.append(rest.substr(0, q + 1));
  std::string_view query = rest.substr(q + 1);
  std::size_t hash = query.find('#');
  std::string_view fragment = hash == std::string_view::npos ? std::string_view{} : query.substr(hash);
  query = query.substr(0, hash);
  std::size_t p = 0;
  bool first = true;
  while (p <= query.size()) {
    std::size_t amp = query.find('&', p);
    if (amp == std::string_view::npos) amp = query.size();
    std::string_view part = query.substr(p, amp - p);
    if (!first) out.push_back('&');
    first = false;
    std::size_t eq = part.find('=');
    std::string key = percent_decode(part.substr(0, eq));
    bool secret = std::any_of(std::begin(sensitive_params), std::end(sensitive_params),
                              [&](std::string_view s) { return iequals(s, key); });
    if (secret && eq != std::string_view::npos) {
      out.append(part.substr(0, eq + 1));
      out.append("***");
    } else {
      out.append(part);
    }
    p = amp + 1;
  }
  out.append(fragment);
}

std::string scrub_text(std::string_view text, const std::vector<std::string>& secrets) {
  return scrubber(secrets)(text);
}

scrubber::scrubber(const std::vector<std::string>& secrets) {
  for (const auto& s : secrets) {
    if (s.size() < 4) continue;
    patterns_.push_back(s);
    // ... and as it appears inside a URL, percent-encoded in upper or lower case.
    std::string enc = url_encode(s);
    if (enc != s) {
      std::string lower = enc;
      for (std::size_t k = 0; k + 2 < lower.size(); ++k)
        if (lower[k] == '%') {
          lower[k + 1] = static_cast<char>(std::tolower(static_cast<unsigned char>(lower[k + 1])));
          lower[k + 2] = static_cast<char>(std::tolower(static_cast<unsigned char>(lower[k + 2])));
        }
      patterns_.push_back(std::move(enc));
      patterns_.push_back(std::move(lower));
    }
  }
}

std::string scrubber::operator()(std::string_view text) const {
  std::string out(text);
  apply(out);
  return out;
}

void scrubber::apply(std::string& out) const {
  for (const auto& s : patterns_) {
    std::size_t pos = 0;
    while ((pos = out.find(s, pos)) != std::string::npos) {
      out.replace(pos, s.size(), "***");
      pos += 3;
    }
  }
  // Credentials after an auth scheme, and tokens of well-known shapes.
  struct shape {
    std::string_view prefix;
    std::size_t min_tail;
    bool keep_prefix;
  };
  static constexpr shape shapes[] = {{"Bearer ", 1, true},     {"bearer ", 1, true}, {"Basic ", 1, true},
                                     {"token ", 16, true},     {"xoxb-", 6, true},   {"xoxp-", 6, true},
                                     {"xoxa-", 6, true},       {"xoxs-", 6, true},   {"xoxe-", 6, true},
                                     {"xapp-", 6, true},       {"ghp_", 6, true},    {"gho_", 6, true},
                                     {"ghu_", 6, true},        {"ghs_", 6, true},    {"ghr_", 6, true},
                                     {"github_pat_", 6, true}, {"sk-", 12, true}};
  constexpr std::size_t n_shapes = sizeof shapes / sizeof shapes[0];
  static_assert(n_shapes <= 32);
  // Which prefixes occur at all, in one pass: the loop below only inserts "***", which holds no
  // prefix and keeps the text on either side apart, so it never creates an occurrence.
  std::uint32_t present = 0;
  for (std::size_t i = 0; i < out.size(); ++i) {
    char c = out[i];
    if (c != 'B' && c != 'b' && c != 't' && c != 'x' && c != 'g' && c != 's') continue;
    std::size_t left = out.size() - i;
    for (std::size_t k = 0; k < n_shapes; ++k) {
      std::string_view p = shapes[k].prefix;
      if (p.front() == c && p.size() <= left && out.compare(i, p.size(), p) == 0)
        present |= std::uint32_t{1} << k;
    }
  }
  for (std::size_t k = 0; present != 0 && k < n_shapes; ++k) {
    if (!(present & (std::uint32_t{1} << k))) continue;
    const shape& sh = shapes[k];
    std::size_t pos = 0;
    while ((pos = out.find(sh.prefix, pos)) != std::string::npos) {
      if (pos > 0 && sh.prefix.front() != 'B' && sh.prefix.front() != 'b' && sh.prefix.front() != 't' &&
          token_char(out[pos - 1])) {
        pos += sh.prefix.size();  // inside a longer word: not a token start
        continue;
      }
      std::size_t start = pos + sh.prefix.size();
      std::size_t end = start;
      while (end < out.size() && token_char(out[end])) ++end;
      if (end - start >= sh.min_tail && out.compare(start, 3, "***") != 0) {
        out.replace(start, end - start, "***");
        pos = start + 3;
      } else {
        pos = end > pos ? end : pos + 1;
      }
    }
  }
}

std::string excerpt(std::string_view body, std::size_t max_bytes) {
  // Invalid bytes become U+FFFD first, then the result is cut on a code point: never over max_bytes.
  std::string out;
  std::size_t i = 0;
  while (i < body.size()) {
    std::size_t n = 1;
    unsigned char c = static_cast<unsigned char>(body[i]);
    if (c >= 0x80) {
      std::string_view rest = body.substr(i, 4);
      n = 0;
      for (std::size_t len = 2; len <= 4 && len <= rest.size(); ++len)
        if (json::valid_utf8(rest.substr(0, len))) {
          n = len;
          break;
        }
    }
    std::string_view piece = n ? body.substr(i, n) : std::string_view("\xEF\xBF\xBD");
    if (out.size() + piece.size() > max_bytes) break;
    out += piece;
    i += n ? n : 1;
  }
  return out;
}

}  // namespace backfill::http
