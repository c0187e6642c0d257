// Splits a document's text into chunks for embedding: about `target_tokens` each, with `overlap_tokens`
// of the previous chunk repeated, cut at paragraph, then sentence, then word boundaries. Tokens are
// estimated conservatively from bytes (see estimate_tokens), so a chunk never exceeds a model's limit.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "backfill/core/document.hpp"
#include "backfill/core/fields.hpp"

namespace backfill {

struct chunker_options {
  std::size_t target_tokens = 512;
  std::size_t overlap_tokens = 64;
  std::size_t max_tokens = 8000;  // hard limit per chunk, title included
};
BACKFILL_FIELDS(chunker_options, &s::target_tokens, &s::overlap_tokens, &s::max_tokens)

// A conservative token count: at least one token per 3 bytes of UTF-8 (BPE tokenizers average about 4
// bytes per token on English, fewer on code and non-Latin scripts).
std::size_t estimate_tokens(std::string_view text) noexcept;

// The tokens an embeddings API is likely to bill for a text: one per 4 bytes of UTF-8, rounded up,
// at least 1 (BPE tokenizers such as OpenAI's average about 4 bytes a token on English; no tokenizer
// ships offline). An estimate, for plans, reports and costs, never for limits (estimate_tokens).
std::size_t billed_tokens(std::string_view text) noexcept;

std::vector<chunk> chunk_document(const document& doc, const chunker_options& options);

}  // namespace backfill
