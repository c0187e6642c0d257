// The OpenAI-compatible embedder: request planning, base64 float decoding, response checking and the
// concurrent request window. See openai.hpp for the contract.
#include "backfill/embed/openai.hpp"

#include <algorithm>
#include <array>
#include <bit>
#include <cctype>
#include <cmath>
#include <cstring>
#include <deque>
#include <thread>

#include <fmt/format.h>
#include <simdjson.h>

#include "backfill/ingest/chunker.hpp"
#include "backfill/core/errors.hpp"
#include "backfill/core/json.hpp"
#include "backfill/core/log.hpp"
#include "backfill/http/retry_after.hpp"
#include "backfill/http/scrub.hpp"

namespace backfill {
namespace openai {

int default_dimension(std::string_view model) noexcept {
  if (model == "text-embedding-3-small") return 1536;
  if (model == "text-embedding-3-large") return 3072;
  if (model == "text-embedding-ada-002") return 1536;
  return 0;
}

namespace {

std::string describe_input(std::size_t i, std::string_view text) {
  std::string head(json::utf8_prefix(text, 60));
  for (char& c : head)
    if (c == '\n' || c == '\r' || c == '\t') c = ' ';
  return fmt::format("input {} (\"{}{}\")", i, head, head.size() < text.size() ? "..." : "");
}

}  // namespace

std::vector<slice> plan_requests(const std::vector<std::string_view>& texts, std::size_t max_inputs,
                                 std::size_t max_tokens_per_request, std::size_t max_input_tokens,
                                 std::size_t spread) {
  max_inputs = std::max<std::size_t>(1, max_inputs);
  const std::size_t per_input = std::min(std::max<std::size_t>(1, max_input_tokens), max_tokens_per_request);
  // Check every input first: a request that cannot be sent is refused before any is.
  std::vector<std::size_t> tokens(texts.size());
  for (std::size_t i = 0; i < texts.size(); ++i) {
    if (texts[i].empty())
      throw embed_error(fmt::format("input {} is empty; the embeddings API refuses empty strings", i));
    tokens[i] = estimate_tokens(texts[i]);
    if (tokens[i] > per_input)
      throw embed_error(fmt::format("{} has about {} tokens ({} bytes), over the limit of {} tokens per input; "
                                    "lower chunking.max_tokens or raise embedder.max_input_tokens",
                                    describe_input(i, texts[i]), tokens[i], texts[i].size(), per_input));
  }
  // Spread the work over up to `spread` requests of equal counts, each of at least min_spread_inputs
  // texts. Only the API's own token limit closes a request early: a share-of-tokens cap would leave a
  // straggler whenever the first requests' texts are shorter than the last ones', and the straggler
  // waits for a free slot, a whole round trip more.
  std::size_t count_cap = max_inputs;
  const std::size_t token_cap = max_tokens_per_request;
  const std::size_t k = std::min(spread, texts.size() / min_spread_inputs);
  if (k > 1) count_cap = std::min(max_inputs, (texts.size() + k - 1) / k);
  std::vector<slice> out;
  slice cur;
  for (std::size_t i = 0; i < texts.size(); ++i) {
    const std::size_t n = i - cur.begin;
    if (n > 0 && (n >= count_cap || cur.tokens + tokens[i] > token_cap)) {
      cur.end = i;
      out.push_back(cur);
      cur = slice{i, i, 0};
    }
    cur.tokens += tokens[i];
  }
  if (!texts.empty()) {
    cur.end = texts.size();
    out.push_back(cur);
  }
  return out;
}

namespace {

constexpr std::array<std::uint8_t, 256> make_table() {
  std::array<std::uint8_t, 256> t{};
  for (auto& v : t) v = 0xFF;
  const char* alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  for (std::uint8_t i = 0; i < 64; ++i) t[static_cast<unsigned char>(alphabet[i])] = i;
  return t;
}
constexpr auto kTable = make_table();

std::string_view unpadded(std::string_view in) noexcept {
  if (!in.empty() && in.back() == '=') in.remove_suffix(1);
  if (!in.empty() && in.back() == '=') in.remove_suffix(1);
  return in;
}

}  // namespace

std::size_t base64_decoded_size(std::string_view in) noexcept {
  std::string_view s = unpadded(in);
  const std::size_t rest = s.size() % 4;
  return s.size() / 4 * 3 + (rest == 2 ? 1 : rest == 3 ? 2 : 0);
}

bool base64_decode(std::string_view in, unsigned char* out) noexcept {
  const bool padded = !in.empty() && in.back() == '=';
  std::string_view s = unpadded(in);
  if (padded && in.size() % 4 != 0) return false;
  if (s.size() % 4 == 1) return false;
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  const std::size_t full = s.size() / 4;
  for (std::size_t g = 0; g < full; ++g, p += 4, out += 3) {
    const std::uint32_t a = kTable[p[0]], b = kTable[p[1]], c = kTable[p[2]], d = kTable[p[3]];
    if ((a | b | c | d) & 0x80) return false;
    const std::uint32_t v = (a << 18) | (b << 12) | (c << 6) | d;
    out[0] = static_cast<unsigned char>(v >> 16);
    out[1] = static_cast<unsigned char>(v >> 8);
    out[2] = static_cast<unsigned char>(v);
  }
  const std::size_t rest = s.size() % 4;
  if (rest >= 2) {
    const std::uint32_t a = kTable[p[0]], b = kTable[p[1]], c = rest == 3 ? kTable[p[2]] : 0;
    if ((a | b | c) & 0x80) return false;
    const std::uint32_t v = (a << 18) | (b << 12) | (c << 6);
    out[0] = static_cast<unsigned char>(v >> 16);
    if (rest == 3) out[1] = static_cast<unsigned char>(v >> 8);
  }
  return true;
}

std::optional<std::vector<float>> decode_float32(std::string_view base64) {
  const std::size_t bytes = base64_decoded_size(base64);
  if (bytes % 4 != 0) return std::nullopt;
  std::vector<float> out(bytes / 4);
  if (!base64_decode(base64, reinterpret_cast<unsigned char*>(out.data()))) return std::nullopt;
  if constexpr (std::endian::native == std::endian::big) {
    for (float& f : out) {
      std::uint32_t u;
      std::memcpy(&u, &f, 4);
      u = ((u & 0xFFu) << 24) | ((u & 0xFF00u) << 8) | ((u >> 8) & 0xFF00u) | (u >> 24);
      std::memcpy(&f, &u, 4);
    }
  }
  return out;
}

parsed parse_response(const std::string& body, std::size_t n, int dimension, std::string_view where) {
  simdjson::dom::parser parser;
  simdjson::dom::element root;
  simdjson::error_code err = body.capacity() >= body.size() + simdjson::SIMDJSON_PADDING
                                 ? parser.parse(body.data(), body.size(), false).get(root)
                                 : parser.parse(body).get(root);
  if (err)
    throw embed_error(fmt::format("{}: the answer is not JSON ({}): {}", where, simdjson::error_message(err),
                                  http::excerpt(body, 200)));
  simdjson::dom::array data;
  if (root.at_key("data").get(data))
    throw embed_error(fmt::format("{}: the answer has no \"data\" array: {}", where, http::excerpt(body, 200)));
  parsed out;
  out.vectors.resize(n);
  std::vector<char> seen(n, 0);
  const auto dim = static_cast<std::size_t>(dimension);
  std::size_t items = 0;
  for (simdjson::dom::element item : data) {
    ++items;
    std::int64_t index = -1;
    if (item.at_key("index").get(index) || index < 0 || static_cast<std::size_t>(index) >= n)
      throw embed_error(fmt::format("{}: data item {} has index {} for a request of {} inputs", where, items - 1,
                                    index, n));
    const auto at = static_cast<std::size_t>(index);
    if (seen[at]) throw embed_error(fmt::format("{}: index {} comes twice in one answer", where, index));
    seen[at] = 1;
    simdjson::dom::element e;
    if (item.at_key("embedding").get(e))
      throw embed_error(fmt::format("{}: data item with index {} has no embedding", where, index));
    std::vector<float>& v = out.vectors[at];
    std::string_view b64;
    simdjson::dom::array arr;
    if (!e.get(b64)) {
      auto decoded = decode_float32(b64);
      if (!decoded)
        throw embed_error(fmt::format("{}: the embedding with index {} is not base64 of float32 values", where,
                                      index));
      v = std::move(*decoded);
    } else if (!e.get(arr)) {
      v.reserve(arr.size());
      for (simdjson::dom::element x : arr) {
        double d = 0;
        if (x.get(d))
          throw embed_error(fmt::format("{}: the embedding with index {} holds something that is not a number",
                                        where, index));
        v.push_back(static_cast<float>(d));
      }
    } else {
      throw embed_error(fmt::format("{}: the embedding with index {} is neither base64 nor a list of numbers", where,
                                    index));
    }
    if (v.size() != dim)
      throw embed_error(fmt::format("{}: the embedding with index {} has dimension {}, expected {}", where, index,
                                    v.size(), dim));
    for (float f : v)
      if (!std::isfinite(f))
        throw embed_error(fmt::format("{}: the embedding with index {} holds a value that is not finite", where,
                                      index));
  }
  if (items != n || std::find(seen.begin(), seen.end(), 0) != seen.end()) {
    std::string missing;
    std::size_t listed = 0, count = 0;
    for (std::size_t i = 0; i < n; ++i) {
      if (seen[i]) continue;
      ++count;
      if (listed++ < 10) missing += fmt::format("{}{}", missing.empty() ? "" : ", ", i);
    }
    throw embed_error(fmt::format("{}: {} embeddings came back for {} inputs; missing {}{}", where, items, n,
                                  missing, count > 10 ? ", ..." : ""));
  }
  std::int64_t tokens = 0;
  if (!root.at_pointer("/usage/prompt_tokens").get(tokens)) out.prompt_tokens = tokens;
  return out;
}

bool out_of_quota(long status, std::string_view body) {
  return status == 429 && body.find("insufficient_quota") != std::string_view::npos;
}

http::verdict classify_response(const http::response& r) {
  if (out_of_quota(r.status, r.body)) return http::verdict::quota("insufficient_quota: the account is out of credit");
  return http::verdict::pass();
}

}  // namespace openai

namespace {

using clock = std::chrono::steady_clock;

bool is_openai_host(std::string_view url) {
  std::size_t scheme = url.find("://");
  std::string_view rest = scheme == std::string_view::npos ? url : url.substr(scheme + 3);
  rest = rest.substr(0, rest.find_first_of("/:?#"));
  return rest == "api.openai.com";
}

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

std::optional<double> header_number(const http::response& r, std::string_view name) {
  const std::string* v = r.find(name);
  if (!v || v->empty()) return std::nullopt;
  char* end = nullptr;
  double d = std::strtod(v->c_str(), &end);
  if (end == v->c_str() || !std::isfinite(d) || d < 0) return std::nullopt;  // Azure sends -1 for "unknown"
  return d;
}

}  // namespace

openai_embedder::openai_embedder(openai_options options) : options_(std::move(options)) {
  if (options_.model.empty())
    throw config_error("embedder.model is required (for example \"text-embedding-3-small\")");
  if (options_.base_url.empty()) throw config_error("embedder.base_url must not be empty");
  // A key pasted or read from a file often carries a trailing newline, which would break the header.
  auto& key = options_.api_key;
  while (!key.empty() && std::isspace(static_cast<unsigned char>(key.back()))) key.pop_back();
  while (!key.empty() && std::isspace(static_cast<unsigned char>(key.front()))) key.erase(key.begin());
  if (key.find_first_of("\r\n") != std::string::npos)
    throw config_error("embedder.api_key holds a line break; it must be the key alone");
  std::string base = options_.base_url;
  if (base.find("://") == std::string::npos) base = "https://" + base;
  while (!base.empty() && base.back() == '/') base.pop_back();
  url_ = base + "/embeddings";
  if (options_.api_key.empty() && is_openai_host(base))
    throw config_error("embedder.api_key is required for api.openai.com (set it from the environment: "
                       "api_key = \"${OPENAI_API_KEY}\")");
  if (options_.dimensions < 0)
    throw config_error(fmt::format("embedder.dimensions must be positive, got {}", options_.dimensions));
  dimension_ = options_.dimensions > 0 ? options_.dimensions : openai::default_dimension(options_.model);
  if (dimension_ == 0)
    throw config_error(fmt::format("embedder.dimensions is required: the dimension of model \"{}\" is not known",
                                   options_.model));
  if (options_.max_inputs < 1 || options_.max_inputs > 2048)
    throw config_error(fmt::format("embedder.max_inputs must be between 1 and 2048, got {}", options_.max_inputs));
  if (options_.max_input_tokens < 1)
    throw config_error("embedder.max_input_tokens must be at least 1");
  if (options_.max_tokens_per_request < options_.max_input_tokens)
    throw config_error(fmt::format("embedder.max_tokens_per_request ({}) must be at least embedder.max_input_tokens ({})",
                                   options_.max_tokens_per_request, options_.max_input_tokens));
  if (options_.concurrency < 1 || options_.concurrency > 64)
    throw config_error(fmt::format("embedder.concurrency must be between 1 and 64, got {}", options_.concurrency));
  if (!(options_.timeout > 0)) throw config_error("embedder.timeout must be positive");
  if (options_.rate < 0) throw config_error("embedder.rate must be 0 (no limit) or positive");
  where_ = fmt::format("embedder {} at {}", identity(), http::scrub_url(base));

  http::client_options o;
  o.timeout = options_.timeout;
  o.verify_tls = options_.verify_tls;
  if (!options_.api_key.empty()) o.secrets = {options_.api_key};
  o.retry.max_attempts = std::max(1, options_.max_attempts);
  o.retry.base_delay = options_.base_delay;
  o.retry.max_elapsed = options_.max_elapsed;
  o.default_limit = {options_.rate, std::max(1.0, options_.rate / 10), options_.concurrency};
  o.max_total_in_flight = options_.concurrency;
  o.classify = openai::classify_response;
  client_ = std::make_unique<http::client>(std::move(o));
}

openai_embedder::~openai_embedder() = default;

std::string openai_embedder::identity() const { return fmt::format("openai:{}:{}", options_.model, dimension_); }

std::string openai_embedder::describe() const { return where_; }

std::size_t openai_embedder::max_batch() const {
  return options_.max_inputs * static_cast<std::size_t>(options_.concurrency);
}

http::client_stats openai_embedder::http_stats() const { return client_->stats(); }

http::request openai_embedder::make_request(const std::vector<std::string_view>& texts,
                                            const openai::slice& s) const {
  http::request r;
  r.method = "POST";
  r.url = url_;
  if (!options_.api_key.empty()) r.headers.push_back({"Authorization", "Bearer " + options_.api_key});
  r.headers.push_back({"Content-Type", "application/json"});
  r.headers.push_back({"Accept", "application/json"});
  std::size_t bytes = 96 + options_.model.size();
  for (std::size_t i = s.begin; i < s.end; ++i) bytes += texts[i].size() + texts[i].size() / 8 + 3;
  std::string& b = r.body;
  b.reserve(bytes);
  b += "{\"model\":";
  json::append_string(b, options_.model);
  b += ",\"input\":[";
  for (std::size_t i = s.begin; i < s.end; ++i) {
    if (i > s.begin) b.push_back(',');
    json::append_string(b, texts[i]);
  }
  b += "],\"encoding_format\":\"base64\"";
  if (options_.dimensions > 0) b += fmt::format(",\"dimensions\":{}", options_.dimensions);
  b.push_back('}');
  return r;
}

// Waits, before a request of `tokens` goes out, while the budget the server announced last is spent
// and its reset lies ahead (at most a minute: then the server decides, and a 429 is retried).
void openai_embedder::pace(std::size_t tokens, run_context* ctx) {
  std::unique_lock<std::mutex> lock(budget_mutex_);
  if (budget_.known) {
    const auto now = clock::now();
    clock::time_point until{};
    if (budget_.requests < 1 && now < budget_.requests_reset) until = budget_.requests_reset;
    if (budget_.tokens < static_cast<double>(tokens) && now < budget_.tokens_reset)
      until = std::max(until, budget_.tokens_reset);
    if (until != clock::time_point{}) {
      until = std::min(until, now + std::chrono::seconds(60));
      budget_waits_.fetch_add(1, std::memory_order_relaxed);
      logger()->debug("openai: the rate-limit budget is spent ({:.0f} requests, {:.0f} tokens left); waiting {:.2f} s "
                      "for its reset",
                      budget_.requests, budget_.tokens, std::chrono::duration<double>(until - now).count());
      lock.unlock();
      while (clock::now() < until) {
        if (ctx) ctx->checkpoint();
        std::this_thread::sleep_for(std::min<clock::duration>(until - clock::now(), std::chrono::milliseconds(50)));
      }
      lock.lock();
    }
    const auto now2 = clock::now();
    if (now2 >= budget_.requests_reset) budget_.requests = 1e18;  // reset: full again (until told otherwise)
    if (now2 >= budget_.tokens_reset) budget_.tokens = 1e18;
    budget_.requests -= 1;
    budget_.tokens -= static_cast<double>(tokens);
  }
}

void openai_embedder::note_limits(const http::response& r) {
  auto rem_requests = header_number(r, "x-ratelimit-remaining-requests");
  auto rem_tokens = header_number(r, "x-ratelimit-remaining-tokens");
  if (!rem_requests && !rem_tokens) return;
  const auto now = clock::now();
  auto reset_at = [&](std::string_view name) {
    const std::string* v = r.find(name);
    auto d = v ? http::parse_go_duration(*v) : std::nullopt;
    return now + std::chrono::duration_cast<clock::duration>(std::chrono::duration<double>(d.value_or(0.0)));
  };
  std::lock_guard<std::mutex> lock(budget_mutex_);
  budget_.known = true;
  budget_.requests = rem_requests.value_or(1e18);
  budget_.tokens = rem_tokens.value_or(1e18);
  budget_.requests_reset = reset_at("x-ratelimit-reset-requests");
  budget_.tokens_reset = reset_at("x-ratelimit-reset-tokens");
}

std::exception_ptr openai_embedder::explain(const http::http_error& e) const {
  const std::exception_ptr cause = std::make_exception_ptr(e);  // the status and request id stay reachable
  const std::string code = error_code(e.body_excerpt());
  const std::string rid = e.request_id().empty() ? "" : fmt::format("; request id {}", e.request_id());
  if (e.status() == 401 || e.status() == 403)
    return std::make_exception_ptr(embed_error(fmt::format(
        "{}: the API key was refused ({} {}{}{}); check embedder.api_key", where_, e.status(),
        e.status() == 401 ? "Unauthorized" : "Forbidden", code.empty() ? "" : ": " + code, rid),
        cause));
  if (openai::out_of_quota(e.status(), e.body_excerpt()))
    return std::make_exception_ptr(embed_error(fmt::format(
        "{}: the account is out of quota (429 insufficient_quota{}); add credit or raise its usage limit, then run "
        "again",
        where_, rid),
        cause));
  return cause;
}

void openai_embedder::embed_parts(const std::vector<std::string_view>& texts, const part_fn& on_part,
                                  run_context* ctx) {
  if (texts.empty()) return;
  std::vector<openai::slice> slices;
  try {
    slices = openai::plan_requests(texts, options_.max_inputs, options_.max_tokens_per_request,
                                   options_.max_input_tokens, static_cast<std::size_t>(options_.concurrency));
  } catch (const embed_error& e) {
    throw embed_error(fmt::format("{}: {}", where_, e.what()));
  }

  // A window of up to `concurrency` requests in flight; answers are taken in order. After a failure
  // nothing new is sent, but the requests in flight are still collected: they are paid for.
  struct in_flight {
    std::size_t slice;
    http::client::handle handle;
  };
  std::deque<in_flight> window;
  std::size_t next = 0;
  std::exception_ptr failure;
  const auto window_size = static_cast<std::size_t>(options_.concurrency);
  try {
    while (true) {
      while (!failure && next < slices.size() && window.size() < window_size) {
        pace(slices[next].tokens, ctx);
        window.push_back({next, client_->submit(make_request(texts, slices[next]))});
        ++next;
      }
      if (window.empty()) break;
      const openai::slice& s = slices[window.front().slice];
      http::client::handle h = std::move(window.front().handle);
      window.pop_front();
      const std::size_t n = s.end - s.begin;
      http::response resp;
      try {
        resp = client_->wait(h, ctx);
      } catch (const http::http_error& e) {
        if (!failure) failure = explain(e);
        continue;
      }
      note_limits(resp);
      openai::parsed got;
      try {
        got = openai::parse_response(resp.body, n, dimension_,
                                     fmt::format("{}: a request of {} inputs", where_, n));
      } catch (const embed_error&) {
        if (!failure) failure = std::current_exception();
        continue;
      }
      count_call(n);
      if (got.prompt_tokens > 0) tokens_.fetch_add(got.prompt_tokens, std::memory_order_relaxed);
      logger()->debug("openai: {} inputs (~{} tokens estimated, {} counted) embedded in {:.0f} ms ({} attempt{})", n,
                      s.tokens, got.prompt_tokens, resp.seconds * 1000, resp.attempts, resp.attempts == 1 ? "" : "s");
      on_part(s.begin, got.vectors);
    }
  } catch (...) {
    for (auto& f : window) client_->cancel(f.handle);
    throw;
  }
  if (failure) std::rethrow_exception(failure);
}

std::vector<std::vector<float>> openai_embedder::embed(const std::vector<std::string_view>& texts) {
  std::vector<std::vector<float>> out(texts.size());
  embed_parts(texts, [&](std::size_t first, std::vector<std::vector<float>>& part) {
    for (std::size_t k = 0; k < part.size(); ++k) out[first + k] = std::move(part[k]);
  });
  return out;
}

}  // namespace backfill
