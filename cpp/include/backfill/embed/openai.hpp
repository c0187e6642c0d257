// Embeddings from an OpenAI-compatible HTTP API (`POST {base_url}/embeddings`: OpenAI, Azure-style
// gateways, vLLM, TEI, Ollama), through the HTTP engine.
//   - One embed() call is split into requests of <= max_inputs texts and <= max_tokens_per_request
//     estimated tokens (estimate_tokens: conservative, about 1 token per 3 bytes), spread over up to
//     `concurrency` requests in flight at once. An input over max_input_tokens, or an empty one, is
//     refused locally, naming it, before anything is sent.
//   - Vectors are asked for as base64 (little-endian float32: a quarter of the bytes of decimal text
//     and no float parsing); a server that ignores that and sends float arrays works too. Results are
//     put back in order by `index`; every index must come exactly once and every vector must have the
//     expected dimension, or the call fails with an embed_error.
//   - The API key goes in `Authorization: Bearer` and is registered with the client as a secret, so it
//     is scrubbed from every message. A refused key (401/403) and an exhausted quota (429
//     insufficient_quota) fail at once with one line naming the cause.
//   - The quota the server announces (x-ratelimit-{limit,remaining,reset}-{requests,tokens}, a 429's
//     "try again in Xs") is modelled as refilling buckets (http/quota.hpp) that the HTTP engine paces
//     requests by: each request waits only until its estimated tokens have refilled. Requests are
//     sized to the quota (request_token_cap): about a second of its refill, or more when the request
//     quota would bind first, and never more than the bucket holds. A server that announces nothing
//     is not paced; its 429s slow the host down (the engine's adaptive concurrency) and are retried.
// identity() is "openai:<model>:<dimension>", so cached vectors never mix two vector spaces.
// embed() and embed_parts() may be called from several threads at once.
#pragma once

#include <atomic>
#include <cstddef>
#include <exception>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "backfill/core/fields.hpp"
#include "backfill/embed/embedder.hpp"
#include "backfill/http/classify.hpp"
#include "backfill/http/client.hpp"
#include "backfill/http/quota.hpp"

namespace backfill {

struct openai_options {
  std::string model;
  std::string api_key;  // may be empty for a local server that needs none (never for api.openai.com)
  std::string base_url = "https://api.openai.com/v1";
  int dimensions = 0;             // 0: the model's known default, and no "dimensions" in requests
  std::size_t max_inputs = 2048;  // texts per request (the API allows 2048)
  std::size_t max_tokens_per_request = 300000;  // summed over a request's inputs (the API allows 300,000)
  std::size_t max_input_tokens = 8192;          // per input (8192 for every OpenAI embedding model)
  int concurrency = 4;                          // requests in flight at once
  double timeout = 120;                         // seconds for one request
  double rate = 0;                              // requests per second; 0 = no client-side rate limit
  bool verify_tls = true;
  int max_attempts = 8;
  double base_delay = 0.5;
  double max_elapsed = 900;  // seconds of retrying one request before giving up
};
BACKFILL_FIELDS(openai_options, &s::model, &s::api_key, &s::base_url, &s::dimensions, &s::max_inputs,
                &s::max_tokens_per_request, &s::max_input_tokens, &s::concurrency, &s::timeout, &s::rate,
                &s::verify_tls, &s::max_attempts, &s::base_delay, &s::max_elapsed)

namespace openai {

// The dimension a model makes when no `dimensions` is asked for; 0 when it is not known.
int default_dimension(std::string_view model) noexcept;

// A run of consecutive inputs sent as one request.
struct slice {
  std::size_t begin = 0;
  std::size_t end = 0;     // exclusive
  std::size_t tokens = 0;  // estimated
};

// Splits `texts` into consecutive slices within the limits. When `spread` > 1 and there is enough
// work, the texts are spread evenly over up to `spread` requests (each of at least min_spread_inputs
// texts) so that they can run concurrently. `target_tokens` (when not 0) closes requests sooner: the
// size the quota suits (request_token_cap); a single input over it still goes, alone. Throws
// embed_error naming the first input that is empty or over max_input_tokens.
inline constexpr std::size_t min_spread_inputs = 32;
std::vector<slice> plan_requests(const std::vector<std::string_view>& texts, std::size_t max_inputs,
                                 std::size_t max_tokens_per_request, std::size_t max_input_tokens,
                                 std::size_t spread = 1, std::size_t target_tokens = 0);

// Standard base64 (RFC 4648, '=' padding optional, no whitespace) into `out`, which must hold
// base64_decoded_size(in) bytes. Returns false on a character outside the alphabet or a bad length.
std::size_t base64_decoded_size(std::string_view in) noexcept;
bool base64_decode(std::string_view in, unsigned char* out) noexcept;
// A base64 string of little-endian float32 values, as the embeddings API sends them.
std::optional<std::vector<float>> decode_float32(std::string_view base64);

// Parses a CreateEmbeddingResponse body for a request of `n` inputs into `out` (n vectors in input
// order). `dimension` is what every vector must have. `body` must have simdjson's padding in its
// capacity or is copied. Throws embed_error (prefixed with `where`) on any shape problem.
struct parsed {
  std::vector<std::vector<float>> vectors;
  std::int64_t prompt_tokens = -1;  // usage.prompt_tokens, when sent
};
parsed parse_response(const std::string& body, std::size_t n, int dimension, std::string_view where);
// parse_response's reading of an answer of base64 vectors by a walk over its stage-1 index
// (core/json_walk.hpp), decoding each vector where it lies: no tape is built and no string copied,
// most of what a whole parse of ~8 kB of base64 a vector costs. `body` needs simdjson's padding (the
// HTTP engine's bodies have it). nullopt leaves the answer to the whole parse: anything the walk does
// not expect (a list of numbers, an escape in a string it reads, a repeated key, no padding) and
// anything wrong (an index out of range or repeated, a dimension off, a value not finite or not
// base64, items missing, not one JSON value), which the whole parse then names.
std::optional<parsed> walk_answer(const std::string& body, std::size_t n, int dimension);

// The estimated tokens one request may carry under `q` (max_tokens_per_request when the server
// announced no token quota): about a second of the token bucket's refill, or as much as keeps the
// request bucket from binding first, never more than the bucket holds (in estimated tokens: the
// quota's token_scale() says how the server's count compares).
std::size_t request_token_cap(const http::quota& q, std::size_t max_tokens_per_request);

// Whether `q`'s request quota binds before its token quota: a request bucket is announced, and the
// token bucket (if any) refills at least a full request's tokens (max_inputs inputs of
// `tokens_per_input`) per request refilled.
bool requests_bind(const http::quota& q, std::size_t max_inputs, double tokens_per_input);

// Whether an answer says the account is out of quota (429 insufficient_quota): waiting will not
// help, so it is not retried. `body` may be an excerpt of the body.
bool out_of_quota(long status, std::string_view body);
// How OpenAI's answers read to the HTTP engine: out of quota is a quota verdict; everything else
// passes to the engine's rules. The embedder installs it on its client.
http::verdict classify_response(const http::response& r);

}  // namespace openai

class openai_embedder final : public embedder {
 public:
  explicit openai_embedder(openai_options options);
  ~openai_embedder() override;

  std::string identity() const override;
  int dimension() const override { return dimension_; }
  std::size_t max_batch() const override;
  std::size_t max_input_tokens() const override { return options_.max_input_tokens; }
  // Two pipeline batches at once, so the next batch's requests wait in the client while the last
  // requests of one batch finish; requests in flight stay capped at options.concurrency.
  std::size_t concurrency() const override { return 2; }
  // max_inputs once the server announced a request quota that binds before its token quota does (the
  // token quota, if any, holds more than max_inputs texts' tokens per request; see openai_plan.cpp).
  std::size_t full_request_inputs() const override;
  std::vector<std::vector<float>> embed(const std::vector<std::string_view>& texts) override;
  void embed_parts(const std::vector<std::string_view>& texts, const part_fn& on_part,
                   run_context* ctx = nullptr) override;

  // An embedding of one short input: the key, the model and the dimension (openai_preflight.cpp).
  void preflight(preflight_checks& out, run_context& ctx) override;

  std::string describe() const;
  const openai_options& options() const noexcept { return options_; }
  // Tokens the server reported (usage.prompt_tokens), summed over every successful request.
  std::int64_t tokens() const noexcept { return tokens_.load(std::memory_order_relaxed); }
  // Times a request was held back for the quota the server announced.
  std::int64_t budget_waits() const { return quota_->holds(); }
  const http::quota& quota() const noexcept { return *quota_; }
  http::client_stats http_stats() const;

 private:
  http::request make_request(const std::vector<std::string_view>& texts, const openai::slice& s) const;
  std::exception_ptr explain(const http::http_error& e) const;

  openai_options options_;
  std::string url_;    // {base_url}/embeddings
  std::string where_;  // for messages: "OpenAI embeddings (model ..., http://host/v1)"
  int dimension_ = 0;
  std::unique_ptr<http::client> client_;
  std::atomic<std::int64_t> tokens_{0};
  std::shared_ptr<http::quota> quota_;  // the server's announced quota: the engine paces by it
};

}  // namespace backfill
