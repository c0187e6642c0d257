// Reading a few values of a large JSON document without building it: simdjson's stage 1 (runtime-
// dispatched to the machine's best kernel, as the DOM parser is) finds every structural character
// and the start of every scalar, and a cursor walks that index. A value nobody asks for is passed
// over by counting brackets in the index: no tape is written and no string copied, which is most of
// what a whole parse costs on a page of long texts.
//
// For documents known to be whole JSON (the HTTP engine checks every answer it expects to be JSON:
// json::whole_answer), or checked as they are indexed. What the cursor does not expect (a string with
// escapes, a number outside 64 bits, a shape it was not asked for) makes it give up, and its caller parses
// the document whole instead; it never guesses.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace backfill::json {

// simdjson's stage-1 index of one text, made where the text is first checked and handed on with it:
// the HTTP engine checks every answer it expects to be JSON (json::whole_answer) and leaves the index
// in the response (http::response::index), so the reader's walk does not index the page again.
class text_index;
// The bytes of its memory that stay resident (what its texts have written): what keeping it idle is
// charged (core/kept_buffers.hpp) when it is more than small_index (an index of ~100 kB of JSON).
std::size_t index_resident(const text_index& index) noexcept;
inline constexpr std::size_t small_index = 64u << 10;
// It is no longer the index of the text it was made for (the text's memory is to be used again).
void forget(text_index& index) noexcept;

class walk {
 public:
  // Indexes `body`, which must have simdjson's padding past its end; nullopt when stage 1 refuses it
  // (invalid UTF-8, an unclosed string) or there is no memory for the index. The index is this
  // thread's, valid until its next index() call. `check_grammar` for a body nothing has checked yet:
  // the index is first walked over JSON's whole grammar (numbers and literals too, what a DOM parse
  // checks but the contents of strings), and nullopt when the body is not one whole JSON value.
  static std::optional<walk> index(const std::string& body, bool check_grammar = false);
  // A walk of `made` when it is the index of `body` as it is now (made by the check the body passed,
  // and handed on with it); otherwise index(body).
  static std::optional<walk> over(const std::string& body, const text_index* made);
  // The walk of this thread's index is over: the index is kept for the next page within the run's
  // allowance of idle page-sized buffers (core/kept_buffers.hpp), freed past it.
  static void let_go() noexcept;

  bool done() const noexcept { return i_ >= n_; }
  // The character the cursor is at: '{', '[', '"', 't', 'f', 'n' or a number's first; 0 at the end.
  char peek() const noexcept { return i_ < n_ ? buf_[at_[i_]] : '\0'; }

  // Passes over the value at the cursor (an object or array with everything in it).
  bool skip() noexcept;
  // At '{': steps in. Then each next_member() gives a member's key and leaves the cursor at its value,
  // which the caller reads or skips; false at the closing '}' (stepped over) or on a broken shape
  // (failed() then says so).
  bool enter_object() noexcept;
  bool next_member(std::string_view& key) noexcept;
  // At '[': steps in; each next_element() leaves the cursor at an element; false after the ']'.
  bool enter_array() noexcept;
  bool next_element() noexcept;
  // The value at the cursor, read and passed over. nullopt (and the value passed over) when it is of
  // another type, as a DOM lookup gives up; failed() when it cannot be read here (escapes, a number
  // beyond 64 bits).
  std::optional<std::string_view> string() noexcept;  // the raw bytes between the quotes, no escapes
  std::optional<std::int64_t> int64() noexcept;
  std::optional<std::uint64_t> uint64() noexcept;
  std::optional<bool> boolean() noexcept;
  bool failed() const noexcept { return failed_; }

 private:
  walk(const char* buf, std::size_t len, const std::uint32_t* at, std::size_t n) noexcept
      : buf_(buf), len_(len), at_(at), n_(n) {}
  std::size_t end_of_scalar() const noexcept;  // where the scalar at the cursor's index ends
  template <typename T>
  std::optional<T> number() noexcept;  // int64() and uint64()
  bool fail() noexcept {
    failed_ = true;
    return false;
  }
  bool expect(char c) noexcept;

  const char* buf_;
  std::size_t len_;
  const std::uint32_t* at_;
  std::size_t n_;
  std::size_t i_ = 0;
  // Inside a container, whether the next member or element is its first (no comma before it).
  bool first_ = false;
  bool failed_ = false;
};

}  // namespace backfill::json
