// The OpenAI-compatible embedder: options checked at construction, the request body, and the window
// of concurrent requests one embed() call keeps in flight. Planning is in openai_plan.cpp, reading
// answers in openai_response.cpp, error explanations in openai_errors.cpp; the engine paces requests by the
// server's announced quota (http/quota.hpp). See openai.hpp for the contract.
#include "backfill/embed/openai.hpp"

#include <algorithm>
#include <cctype>
#include <deque>

#include <fmt/format.h>

#include "backfill/core/errors.hpp"
#include "backfill/core/json.hpp"
#include "backfill/core/log.hpp"
#include "backfill/http/quota_headers.hpp"
#include "backfill/http/scrub.hpp"

namespace backfill {

namespace {

bool is_openai_host(std::string_view url) {
  std::size_t scheme = url.find("://");
  std::string_view rest = scheme == std::string_view::npos ? url : url.substr(scheme + 3);
  rest = rest.substr(0, rest.find_first_of("/:?#"));
  return rest == "api.openai.com";
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
    throw config_error(
        "embedder.api_key is required for api.openai.com (set it from the environment: "
        "api_key = \"${OPENAI_API_KEY}\")");
  if (options_.dimensions < 0)
    throw config_error(fmt::format("embedder.dimensions must be positive, got {}", options_.dimensions));
  dimension_ = options_.dimensions > 0 ? options_.dimensions : openai::default_dimension(options_.model);
  if (dimension_ == 0)
    throw config_error(fmt::format(
        "embedder.dimensions is required: the dimension of model \"{}\" is not known", options_.model));
  if (options_.max_inputs < 1 || options_.max_inputs > 2048)
    throw config_error(
        fmt::format("embedder.max_inputs must be between 1 and 2048, got {}", options_.max_inputs));
  if (options_.max_input_tokens < 1) throw config_error("embedder.max_input_tokens must be at least 1");
  if (options_.max_tokens_per_request < options_.max_input_tokens)
    throw config_error(
        fmt::format("embedder.max_tokens_per_request ({}) must be at least embedder.max_input_tokens ({})",
                    options_.max_tokens_per_request, options_.max_input_tokens));
  if (options_.concurrency < 1 || options_.concurrency > 64)
    throw config_error(
        fmt::format("embedder.concurrency must be between 1 and 64, got {}", options_.concurrency));
  if (!(options_.timeout > 0)) throw config_error("embedder.timeout must be positive");
  if (options_.rate < 0) throw config_error("embedder.rate must be 0 (no limit) or positive");
  where_ = fmt::format("embedder {} at {}", identity(), http::scrub_url(base));

  http::client_options o;
  o.service = "embedder";
  o.timeout = options_.timeout;
  o.verify_tls = options_.verify_tls;
  if (!options_.api_key.empty()) o.secrets = {options_.api_key};
  o.retry.max_attempts = std::max(1, options_.max_attempts);
  o.retry.base_delay = options_.base_delay;
  o.retry.max_elapsed = options_.max_elapsed;
  o.default_limit = {options_.rate, std::max(1.0, options_.rate / 10), options_.concurrency};
  o.max_total_in_flight = options_.concurrency;
  o.classify = openai::classify_response;
  quota_ = std::make_shared<http::quota>("openai");
  o.shared_quota = quota_;
  o.read_quota = http::read_openai_quota;
  client_ = std::make_unique<http::client>(std::move(o));
}

openai_embedder::~openai_embedder() = default;

std::string openai_embedder::identity() const {
  return fmt::format("openai:{}:{}", options_.model, dimension_);
}

std::string openai_embedder::describe() const { return where_; }

std::size_t openai_embedder::max_batch() const {
  return options_.max_inputs * static_cast<std::size_t>(options_.concurrency);
}

http::client_stats openai_embedder::http_stats() const { return client_->stats(); }

std::size_t openai_embedder::full_request_inputs() const {
  const std::int64_t n = inputs();
  // Until the server has counted some, an input is taken at its largest: requests bind only when they surely
  // do.
  const double per_input = n > 0 ? static_cast<double>(tokens()) / static_cast<double>(n)
                                 : static_cast<double>(options_.max_input_tokens);
  return openai::requests_bind(*quota_, options_.max_inputs, per_input) ? options_.max_inputs : 0;
}

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

void openai_embedder::embed_parts(const std::vector<std::string_view>& texts, const part_fn& on_part,
                                  run_context* ctx) {
  if (texts.empty()) return;
  const std::size_t target = openai::request_token_cap(*quota_, options_.max_tokens_per_request);
  // Requests spread over the window for latency, unless requests are the scarce quota: then each is full.
  const std::size_t spread = full_request_inputs() ? 1 : static_cast<std::size_t>(options_.concurrency);
  std::vector<openai::slice> slices;
  try {
    slices = openai::plan_requests(texts, options_.max_inputs, options_.max_tokens_per_request,
                                   options_.max_input_tokens, spread, target);
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
        http::request r = make_request(texts, slices[next]);
        r.quota_tokens = static_cast<double>(slices[next].tokens);
        window.push_back({next, client_->submit(std::move(r))});
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
      logger()->debug(
          "openai: {} inputs (~{} tokens estimated, {} counted) embedded in {:.0f} ms ({} attempt{})", n,
          s.tokens, got.prompt_tokens, resp.seconds * 1000, resp.attempts, resp.attempts == 1 ? "" : "s");
      client_->recycle(std::move(resp));  // its body's memory (~2 MB for 256 vectors) serves a later answer
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
