// The HTTP engine's pure pieces: header parsing, retry advice, URL helpers, scrubbing, the
// pagination guard. No libcurl state here, so all of it is unit-tested directly.
#include <curl/curl.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdlib>
#include <ctime>

#include <fmt/format.h>

#include "backfill/core/errors.hpp"
#include "backfill/core/hash.hpp"
#include "backfill/http/client.hpp"
#include "backfill/core/json.hpp"

namespace backfill::http {
namespace {

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i)
    if (std::tolower(static_cast<unsigned char>(a[i])) != std::tolower(static_cast<unsigned char>(b[i])))
      return false;
  return true;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return s;
}

std::optional<double> parse_number(std::string_view s) {
  s = trim(s);
  if (s.empty()) return std::nullopt;
  std::string tmp(s);
  char* end = nullptr;
  double v = std::strtod(tmp.c_str(), &end);
  if (end != tmp.c_str() + tmp.size() || !std::isfinite(v)) return std::nullopt;
  return v;
}

// ISO 8601 as Jira sends X-RateLimit-Reset: "2026-11-28T16:05Z", with optional seconds.
std::optional<std::time_t> parse_iso_utc(std::string_view s) {
  std::tm tm{};
  std::string tmp(trim(s));
  const char* formats[] = {"%Y-%m-%dT%H:%M:%SZ", "%Y-%m-%dT%H:%MZ"};
  for (const char* f : formats) {
    tm = {};
    const char* end = strptime(tmp.c_str(), f, &tm);
    if (end && *end == '\0') return timegm(&tm);
  }
  return std::nullopt;
}

double since_epoch(std::chrono::system_clock::time_point t) {
  return std::chrono::duration<double>(t.time_since_epoch()).count();
}

constexpr std::string_view sensitive_params[] = {
    "token",         "access_token", "refresh_token", "id_token", "api_key",  "apikey",
    "key",           "password",     "passwd",        "secret",   "client_secret",
    "signature",     "sig",          "auth",          "code",     "x-amz-signature",
    "x-amz-credential", "x-amz-security-token", "session", "private_token", "subscription-key",
    "api-key", "access-token", "client_id"};

bool token_char(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-' || c == '.' || c == '=' || c == '+' ||
         c == '/';
}

}  // namespace

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

std::optional<double> parse_retry_after(std::string_view value, std::chrono::system_clock::time_point now) {
  value = trim(value);
  if (value.empty()) return std::nullopt;
  if (std::all_of(value.begin(), value.end(), [](char c) { return std::isdigit(static_cast<unsigned char>(c)) || c == '.'; }))
    return parse_number(value);
  std::string tmp(value);
  std::time_t when = curl_getdate(tmp.c_str(), nullptr);
  if (when < 0) return std::nullopt;
  return std::max(0.0, static_cast<double>(when) - since_epoch(now));
}

std::optional<double> parse_go_duration(std::string_view s) {
  s = trim(s);
  if (s.empty()) return std::nullopt;
  double total = 0;
  std::size_t i = 0;
  bool any = false;
  while (i < s.size()) {
    std::size_t start = i;
    while (i < s.size() && (std::isdigit(static_cast<unsigned char>(s[i])) || s[i] == '.')) ++i;
    if (start == i) return std::nullopt;
    auto number = parse_number(s.substr(start, i - start));
    if (!number) return std::nullopt;
    std::size_t ustart = i;
    while (i < s.size() && std::isalpha(static_cast<unsigned char>(s[i]))) ++i;
    std::string_view unit = s.substr(ustart, i - ustart);
    double scale = 0;
    if (unit == "h") scale = 3600;
    else if (unit == "m") scale = 60;
    else if (unit == "s") scale = 1;
    else if (unit == "ms") scale = 1e-3;
    else if (unit == "us" || unit == "µs") scale = 1e-6;
    else if (unit == "ns") scale = 1e-9;
    else return std::nullopt;
    total += *number * scale;
    any = true;
  }
  if (!any) return std::nullopt;
  return total;
}

std::optional<double> server_retry_delay(const response& r, std::chrono::system_clock::time_point now) {
  if (const auto* v = r.find("retry-after"))
    if (auto d = parse_retry_after(*v, now)) return d;
  // GitHub (epoch seconds) and Jira (ISO 8601) announce when an exhausted budget refills.
  const auto* remaining = r.find("x-ratelimit-remaining");
  if (remaining && parse_number(*remaining) == 0.0) {
    if (const auto* reset = r.find("x-ratelimit-reset")) {
      if (auto epoch = parse_number(*reset)) return std::max(0.0, *epoch - since_epoch(now));
      if (auto t = parse_iso_utc(*reset)) return std::max(0.0, static_cast<double>(*t) - since_epoch(now));
    }
  }
  // OpenAI: durations until the request and token budgets reset; wait for the later one.
  std::optional<double> best;
  for (const char* n : {"x-ratelimit-reset-requests", "x-ratelimit-reset-tokens"}) {
    if (const auto* v = r.find(n)) {
      if (auto d = parse_go_duration(*v)) best = std::max(best.value_or(0.0), *d);
    }
  }
  if (best && (r.status == 429)) return best;
  return std::nullopt;
}

std::optional<std::string> link_next(std::string_view header) {
  std::size_t i = 0;
  while (i < header.size()) {
    std::size_t lt = header.find('<', i);
    if (lt == std::string_view::npos) break;
    std::size_t gt = header.find('>', lt);
    if (gt == std::string_view::npos) break;
    std::string_view url = header.substr(lt + 1, gt - lt - 1);
    std::size_t end = header.find('<', gt);  // parameters run to the next link
    std::string_view params = header.substr(gt + 1, (end == std::string_view::npos ? header.size() : end) - gt - 1);
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
        if (iequals(trim(v.substr(p, sp - p)), "next")) return std::string(url);
        p = sp + 1;
      }
    }
    i = gt + 1;
  }
  return std::nullopt;
}

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

namespace {
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
}  // namespace

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
  static constexpr shape shapes[] = {{"Bearer ", 1, true}, {"bearer ", 1, true}, {"Basic ", 1, true},
                                     {"token ", 16, true}, {"xoxb-", 6, true},   {"xoxp-", 6, true},
                                     {"xoxa-", 6, true},   {"xoxs-", 6, true},   {"xoxe-", 6, true},
                                     {"xapp-", 6, true},   {"ghp_", 6, true},    {"gho_", 6, true},
                                     {"ghu_", 6, true},    {"ghs_", 6, true},    {"ghr_", 6, true},
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
      if (p.front() == c && p.size() <= left && out.compare(i, p.size(), p) == 0) present |= std::uint32_t{1} << k;
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

// --- pagination guard ------------------------------------------------------------------------

std::int64_t pagination_guard::id_pages::first_page(std::uint64_t hash, std::int64_t page) {
  if ((used_ + 1) * 10 > keys_.size() * 7) grow();  // load <= 0.7
  if (hash == 0) hash = 1;
  const std::size_t mask = keys_.size() - 1;
  for (std::size_t i = static_cast<std::size_t>(hash) & mask;; i = (i + 1) & mask) {
    if (keys_[i] == hash) return pages_[i];
    if (keys_[i] == 0) {
      keys_[i] = hash;
      // Page numbers past 2^32 (never seen in practice) are kept as the largest that fits.
      pages_[i] = static_cast<std::uint32_t>(std::min<std::int64_t>(page, UINT32_MAX));
      ++used_;
      return page;
    }
  }
}

void pagination_guard::id_pages::grow() {
  std::vector<std::uint64_t> keys(keys_.empty() ? 1024 : keys_.size() * 2, 0);
  std::vector<std::uint32_t> pages(keys.size(), 0);
  const std::size_t mask = keys.size() - 1;
  for (std::size_t j = 0; j < keys_.size(); ++j) {
    if (keys_[j] == 0) continue;
    std::size_t i = static_cast<std::size_t>(keys_[j]) & mask;
    while (keys[i] != 0) i = (i + 1) & mask;
    keys[i] = keys_[j];
    pages[i] = pages_[j];
  }
  keys_.swap(keys);
  pages_.swap(pages);
}

pagination_guard::pagination_guard(std::string what) : what_(std::move(what)) {}

void pagination_guard::check(std::string_view raw_cursor, std::string_view body, const std::vector<std::string>& ids) {
  const std::int64_t page_no = ++pages_;
  // Cursors may be URLs (Link paging) carrying credentials: only their scrubbed form is quoted.
  const std::string shown = raw_cursor.find("://") != std::string_view::npos ? scrub_url(raw_cursor)
                                                                              : std::string(raw_cursor);
  std::string_view cursor = raw_cursor;
  if (!cursor.empty()) {
    auto it = cursors_.find(cursor);
    if (it != cursors_.end())
      throw pagination_error(fmt::format(
          "{}: the server repeated itself: page {} was requested with cursor '{}', which already fetched page {}",
          what_, page_no, excerpt(shown, 120), it->second));
    cursors_.emplace(std::string(cursor), page_no);
  }
  hash128 h = hash_bytes(body);
  auto key = std::make_pair(h.high, h.low);
  if (auto it = bodies_.find(key); it != bodies_.end())
    throw pagination_error(fmt::format("{}: the server repeated itself: page {} (cursor '{}') is identical to page {}",
                                       what_, page_no, excerpt(shown, 120), it->second));
  bodies_.emplace(key, page_no);
  std::vector<std::string> repeated;
  std::int64_t earlier = 0;
  for (const auto& id : ids) {
    const std::int64_t first = ids_.first_page(hash64(id), page_no);
    if (first != page_no) {
      if (repeated.size() < 5) repeated.push_back(id);
      earlier = first;
    }
  }
  if (!repeated.empty()) {
    std::string sample;
    for (const auto& id : repeated) sample += (sample.empty() ? "" : ", ") + excerpt(id, 60);
    throw pagination_error(fmt::format(
        "{}: the server repeated itself: page {} (cursor '{}') holds ids already seen on page {} ({})", what_, page_no,
        excerpt(shown, 120), earlier, sample));
  }
}

}  // namespace backfill::http
