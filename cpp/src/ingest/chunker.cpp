// Chunking: a document's text is cut into slices of about `target_tokens` (title included), each
// after the first starting with about `overlap_tokens` of the end of the one before.
//
// How a slice ends, in order of preference, searched backwards from the byte budget over the last half
// of the new (non-overlap) part of the window, so that every cut makes real progress:
//   1. a paragraph break (a blank line: "\n", optional spaces/tabs/CRs, "\n"),
//   2. a sentence end (". ", "! ", "? " and the like, "。", "！", "？") or a newline,
//   3. whitespace,
//   4. a hard cut on a UTF-8 code point boundary.
// Each window is scanned once, and each step advances by at least a quarter of the slice budget, so the
// whole document costs O(text size).
//
// Budgets, in bytes (estimate_tokens counts 3 bytes a token):
//   prefix  = title + "\n\n", at most half of the target (a longer title is cut, UTF-8 safe), and
//             never so much that fewer than 4 bytes (one code point) are left for the slice;
//   slice   = target * 3 - prefix, so every chunk's estimate is <= target_tokens <= max_tokens;
//   overlap = min(overlap_tokens * 3, slice / 2): at most half a slice, which guarantees progress
//             (less on tiny budgets, so that each slice has room for one new code point).
// Code points are never split, so the one case where a chunk exceeds its budget is target_tokens = 1
// (3 bytes) meeting a 4-byte code point: that chunk is the code point alone, 2 tokens.
#include "backfill/ingest/chunker.hpp"

#include <algorithm>
#include <cstdint>
#include <string>

#include "backfill/core/errors.hpp"
#include "backfill/core/hash.hpp"
#include "backfill/core/json.hpp"

namespace backfill {
namespace {

inline bool is_space(char c) noexcept {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}
inline bool is_continuation(char c) noexcept { return (static_cast<unsigned char>(c) & 0xC0) == 0x80; }

// Three-byte full-stop style sentence ends: 。 (E3 80 82), ！ (EF BC 81), ？ (EF BC 9F).
inline bool cjk_sentence_end(std::string_view t, std::size_t i) noexcept {
  if (i + 3 > t.size()) return false;
  const auto b0 = static_cast<unsigned char>(t[i]), b1 = static_cast<unsigned char>(t[i + 1]),
             b2 = static_cast<unsigned char>(t[i + 2]);
  if (b0 == 0xE3 && b1 == 0x80 && b2 == 0x82) return true;
  return b0 == 0xEF && b1 == 0xBC && (b2 == 0x81 || b2 == 0x9F);
}

// The largest code point boundary <= pos and > lo. A boundary is searched at most 3 bytes back (a code
// point is at most 4 bytes); in invalid UTF-8 with no boundary nearby, pos itself is returned. Returns
// lo when the only boundary is at or before lo.
std::size_t floor_boundary(std::string_view t, std::size_t pos, std::size_t lo) noexcept {
  std::size_t p = pos;
  for (int steps = 0; steps < 3 && p > lo && p < t.size() && is_continuation(t[p]); ++steps) --p;
  if (p < t.size() && is_continuation(t[p]) && p > lo) return pos;  // invalid UTF-8: no boundary to find
  return p;
}

// The smallest code point boundary >= pos (at most 3 bytes on; invalid UTF-8 as above), capped at hi.
std::size_t ceil_boundary(std::string_view t, std::size_t pos, std::size_t hi) noexcept {
  std::size_t p = pos;
  for (int steps = 0; steps < 3 && p < hi && is_continuation(t[p]); ++steps) ++p;
  return p;
}

std::size_t trim_back(std::string_view t, std::size_t end, std::size_t lo) noexcept {
  while (end > lo && is_space(t[end - 1])) --end;
  return end;
}

std::size_t skip_space(std::string_view t, std::size_t pos) noexcept {
  while (pos < t.size() && is_space(t[pos])) ++pos;
  return pos;
}

struct cut {
  std::size_t end;   // the slice ends here (exclusive, trailing whitespace trimmed)
  std::size_t next;  // new content of the next slice starts at or after here
};

// Where to end a slice that starts its new content at `start` and may not reach past `limit`
// (start < limit < t.size()). Only boundaries found at or after `min_cut` count (a slice's end may
// still fall a little before it when trailing whitespace is trimmed; the next slice starts after it).
cut find_cut(std::string_view t, std::size_t start, std::size_t limit, std::size_t min_cut) noexcept {
  constexpr std::size_t none = std::string_view::npos;
  std::size_t sentence_end = none, sentence_next = none, space_end = none, space_next = none;
  for (std::size_t i = limit + 1; i-- > min_cut;) {
    const char c = t[i];
    if (c == '\n') {
      // A blank line ends here when the previous line holds only spaces, tabs and CRs.
      std::size_t j = i;
      while (j > start && (t[j - 1] == ' ' || t[j - 1] == '\t' || t[j - 1] == '\r')) --j;
      if (j > start && t[j - 1] == '\n') return {trim_back(t, j - 1, start), i + 1};
      if (sentence_end == none) {
        sentence_end = trim_back(t, i, start);
        sentence_next = i + 1;
      }
      continue;
    }
    if (sentence_end == none) {
      if ((c == '.' || c == '!' || c == '?') && i + 1 <= limit && i + 1 < t.size() && is_space(t[i + 1])) {
        sentence_end = i + 1;
        sentence_next = i + 1;
        continue;
      }
      if (i + 3 <= limit && cjk_sentence_end(t, i)) {
        sentence_end = i + 3;
        sentence_next = i + 3;
        continue;
      }
    }
    if (space_end == none && is_space(c)) {
      space_end = trim_back(t, i, start);
      space_next = i + 1;
    }
  }
  if (sentence_end != none) return {sentence_end, sentence_next};
  if (space_end != none) return {space_end, space_next};
  std::size_t end = floor_boundary(t, limit, start);
  if (end <= start) end = ceil_boundary(t, start + 1, t.size());  // one whole code point at least
  return {end, end};
}

// True when a sentence starts at t[i] (a non-space byte): it follows "。", "！" or "？", or a run of
// whitespace that holds a newline or comes after '.', '!' or '?'. The look-back stays above `lo`.
bool sentence_start(std::string_view t, std::size_t i, std::size_t lo) noexcept {
  if (i >= 3 && cjk_sentence_end(t, i - 3)) return true;
  if (i == 0 || !is_space(t[i - 1])) return false;
  std::size_t j = i;
  while (j > lo && is_space(t[j - 1])) {
    if (t[j - 1] == '\n') return true;
    --j;
  }
  return j > 0 && (t[j - 1] == '.' || t[j - 1] == '!' || t[j - 1] == '?');
}

// Where the next slice starts: about `overlap` bytes before `next` (the start of its new content),
// moved forward to the start of a sentence when one leaves at least half the overlap, else to the
// start of a word. With no word start in that stretch, a stretch without any whitespace (one long
// word, CJK text) is kept from a code point boundary, and a stretch that is only the tail of a word
// plus whitespace is dropped. Linear in `overlap`: each whitespace run is looked back over once.
std::size_t overlap_start(std::string_view t, std::size_t next, std::size_t overlap) noexcept {
  if (overlap == 0 || next == 0) return next;
  constexpr std::size_t none = std::string_view::npos;
  const std::size_t raw = next > overlap ? next - overlap : 0;
  const std::size_t sentence_limit = next - overlap / 2;  // a sentence start must come before this
  const std::size_t lo = raw > 0 ? raw - 1 : 0;
  std::size_t word = none;
  bool saw_space = false;
  for (std::size_t i = raw; i < next; ++i) {
    if (is_space(t[i])) {
      saw_space = true;
      continue;
    }
    if (i > sentence_limit && word != none) break;
    const bool word_start = i == 0 || is_space(t[i - 1]);
    if (i <= sentence_limit && (word_start || i >= 3) && sentence_start(t, i, lo)) return i;
    if (word_start && word == none) word = i;
  }
  if (word != none) return word;
  if (saw_space) return next;
  return ceil_boundary(t, raw, next);
}

}  // namespace

std::size_t estimate_tokens(std::string_view text) noexcept {
  // Deliberately conservative: BPE tokenizers average about 4 bytes a token on English prose, but
  // fewer on code, numbers and non-Latin scripts. One token per 3 bytes (rounded up) over-counts
  // English by about a third, which keeps every chunk under a model's input limit.
  return (text.size() + 2) / 3;
}

std::size_t billed_tokens(std::string_view text) noexcept { return text.empty() ? 1 : (text.size() + 3) / 4; }

std::vector<chunk> chunk_document(const document& doc, const chunker_options& options) {
  if (options.target_tokens == 0) throw config_error("chunking.target_tokens must be at least 1, got 0");
  if (options.overlap_tokens >= options.target_tokens)
    throw config_error("chunking.overlap_tokens (" + std::to_string(options.overlap_tokens) +
                       ") must be less than chunking.target_tokens (" +
                       std::to_string(options.target_tokens) + ")");
  if (options.target_tokens > options.max_tokens)
    throw config_error("chunking.target_tokens (" + std::to_string(options.target_tokens) +
                       ") must not exceed chunking.max_tokens (" + std::to_string(options.max_tokens) + ")");

  // Token budgets in bytes; absurd settings saturate instead of overflowing.
  auto bytes = [](std::size_t tokens) { return std::min(tokens, SIZE_MAX / 8) * 3; };
  const std::size_t target_bytes = bytes(options.target_tokens);
  const std::size_t max_bytes = bytes(options.max_tokens);

  std::vector<chunk> out;
  auto emit = [&](std::string text) {
    chunk c;
    c.index = static_cast<int>(out.size());
    c.id = chunk_id(doc.id, c.index);
    c.doc_id = doc.id;
    c.text_hash = hash_hex(text);
    c.text = std::move(text);
    out.push_back(std::move(c));
  };

  std::size_t start = skip_space(doc.text, 0);
  const std::size_t n = trim_back(doc.text, doc.text.size(), start);
  const std::string_view t = std::string_view(doc.text).substr(0, n);  // trailing whitespace dropped
  if (start >= n) {
    // No text: one chunk with the title (a document is never dropped), cut to the hard limit.
    emit(std::string(json::utf8_prefix(doc.title, max_bytes)));
    return out;
  }

  // The title as context, taking at most half of the target and leaving room for a whole code point.
  std::string prefix;
  if (!doc.title.empty()) {
    const std::size_t cap = std::min(target_bytes / 2, target_bytes >= 4 ? target_bytes - 4 : 0);
    if (cap > 2) {
      std::string_view title = json::utf8_prefix(doc.title, cap - 2);
      title = title.substr(0, trim_back(title, title.size(), 0));
      if (!title.empty()) {
        prefix.assign(title);
        prefix += "\n\n";
      }
    }
  }
  const std::size_t slice_bytes = target_bytes - prefix.size();  // >= min(target_bytes, 4)
  // At most half a slice, and at least 4 bytes (one code point) of new text in every slice when the
  // slice can hold that much: then a hard cut always finds a boundary inside the budget.
  std::size_t overlap_bytes = std::min(bytes(options.overlap_tokens), slice_bytes / 2);
  if (slice_bytes - overlap_bytes < 4) overlap_bytes = slice_bytes > 4 ? slice_bytes - 4 : 0;

  std::size_t from = start;  // the slice starts here (overlap included); new content starts at `start`
  for (;;) {
    const std::size_t limit = from + slice_bytes;
    if (limit >= n) {
      emit(prefix + std::string(t.substr(from, n - from)));
      break;
    }
    // limit - start >= slice_bytes - overlap_bytes >= slice_bytes / 2: the cut lands in the second
    // half of the new part, so each step advances by at least a quarter of a slice.
    const std::size_t min_cut = std::max(start + 1, start + (limit - start) / 2);
    const cut c = find_cut(t, start, limit, min_cut);
    emit(prefix + std::string(t.substr(from, c.end - from)));
    start = skip_space(t, c.next);
    if (start >= n) break;
    from = overlap_start(t, start, overlap_bytes);
  }
  return out;
}

}  // namespace backfill
