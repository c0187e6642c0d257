// Planning the requests of one embed() call: token estimates, refusing inputs the API would refuse,
// and splitting the inputs into slices within the API's limits, spread for concurrency.
#include <algorithm>

#include <fmt/format.h>

#include "backfill/core/errors.hpp"
#include "backfill/core/json.hpp"
#include "backfill/embed/openai.hpp"
#include "backfill/ingest/chunker.hpp"

namespace backfill::openai {

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
                                 std::size_t spread, std::size_t target_tokens) {
  max_inputs = std::max<std::size_t>(1, max_inputs);
  const std::size_t per_input = std::min(std::max<std::size_t>(1, max_input_tokens), max_tokens_per_request);
  // Check every input first: a request that cannot be sent is refused before any is.
  std::vector<std::size_t> tokens(texts.size());
  for (std::size_t i = 0; i < texts.size(); ++i) {
    if (texts[i].empty())
      throw embed_error(fmt::format("input {} is empty; the embeddings API refuses empty strings", i));
    tokens[i] = estimate_tokens(texts[i]);
    if (tokens[i] > per_input)
      throw embed_error(
          fmt::format("{} has about {} tokens ({} bytes), over the limit of {} tokens per input; "
                      "lower chunking.max_tokens or raise embedder.max_input_tokens",
                      describe_input(i, texts[i]), tokens[i], texts[i].size(), per_input));
  }
  // Spread the work over up to `spread` requests of equal counts, each of at least min_spread_inputs
  // texts. Only the API's own token limit closes a request early: a share-of-tokens cap would leave a
  // straggler whenever the first requests' texts are shorter than the last ones', and the straggler
  // waits for a free slot, a whole round trip more.
  std::size_t count_cap = max_inputs;
  const std::size_t token_cap =
      target_tokens > 0 ? std::min(target_tokens, max_tokens_per_request) : max_tokens_per_request;
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

std::size_t request_token_cap(const http::quota& q, std::size_t max_tokens_per_request) {
  const double limit = q.limit("tokens");
  if (limit <= 0) return max_tokens_per_request;
  const double tokens_rate = q.rate("tokens");
  const double requests_rate = q.rate("requests");
  // A second of refill keeps the wait before each request short; below tokens/requests rate, the
  // request quota would run out before the token quota does.
  double cap = tokens_rate;
  if (requests_rate > 0) cap = std::max(cap, 1.2 * tokens_rate / requests_rate);
  cap = std::min(cap, limit) / q.token_scale();
  return std::clamp<std::size_t>(static_cast<std::size_t>(cap), 1, max_tokens_per_request);
}

bool requests_bind(const http::quota& q, std::size_t max_inputs, double tokens_per_input) {
  const double requests_rate = q.rate("requests");
  if (!(requests_rate > 0)) return false;
  const double tokens_rate = q.rate("tokens");
  return !(tokens_rate > 0) ||
         tokens_rate / requests_rate >= static_cast<double>(max_inputs) * tokens_per_input;
}

}  // namespace backfill::openai
