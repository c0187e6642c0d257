// A cursor over simdjson's stage-1 index (json_walk.hpp).
#include "backfill/core/json_walk.hpp"

#include <charconv>
#include <cstring>
#include <type_traits>

#include <simdjson.h>

#include "kept_stage1.hpp"

namespace backfill::json {
namespace {

bool space(char c) noexcept { return c == ' ' || c == '\n' || c == '\r' || c == '\t'; }

thread_local kept_stage1 mine;  // the index this thread's walks read

}  // namespace

void walk::let_go() noexcept { mine.let_go(); }

std::optional<walk> walk::index(const std::string& body, bool check_grammar) {
  const std::size_t len = body.size();
  if (len == 0 || body.capacity() < len + simdjson::SIMDJSON_PADDING) return std::nullopt;
  text_index& index = mine.use();
  if (index.index(body.data(), len) != simdjson::SUCCESS) return std::nullopt;
  if (check_grammar &&
      grammar(body.data(), len, index.at(), index.count(), simdjson::DEFAULT_MAX_DEPTH) != shape::whole)
    return std::nullopt;
  return walk(body.data(), len, index.at(), index.count());
}

std::optional<walk> walk::over(const std::string& body, const text_index* made) {
  if (made && made->indexes(body.data(), body.size()))
    return walk(body.data(), body.size(), made->at(), made->count());
  return index(body);
}

std::size_t index_resident(const text_index& index) noexcept { return index.resident(); }
void forget(text_index& index) noexcept { index.forget(); }

std::size_t walk::end_of_scalar() const noexcept {
  std::size_t end = i_ + 1 < n_ ? at_[i_ + 1] : len_;
  while (end > at_[i_] && space(buf_[end - 1])) --end;
  return end;
}

bool walk::expect(char c) noexcept {
  if (peek() != c) return fail();
  ++i_;
  return true;
}

bool walk::skip() noexcept {
  if (done()) return fail();
  const char c = peek();
  if (c != '{' && c != '[') {
    ++i_;
    return true;
  }
  std::size_t depth = 0;
  for (; i_ < n_; ++i_) {
    const char d = buf_[at_[i_]];
    if (d == '{' || d == '[') {
      ++depth;
    } else if (d == '}' || d == ']') {
      if (--depth == 0) {
        ++i_;
        return true;
      }
    }
  }
  return fail();
}

bool walk::enter_object() noexcept {
  if (!expect('{')) return false;
  first_ = true;
  return true;
}

bool walk::next_member(std::string_view& key) noexcept {
  if (failed_) return false;
  if (peek() == '}') {
    ++i_;
    first_ = false;  // the parent's value is done
    return false;
  }
  if (!first_ && !expect(',')) return false;
  first_ = false;
  auto k = string();
  if (!k || !expect(':')) return fail();
  key = *k;
  return true;
}

bool walk::enter_array() noexcept {
  if (!expect('[')) return false;
  first_ = true;
  return true;
}

bool walk::next_element() noexcept {
  if (failed_) return false;
  if (peek() == ']') {
    ++i_;
    first_ = false;
    return false;
  }
  if (!first_ && !expect(',')) return false;
  first_ = false;
  return !done() || fail();
}

std::optional<std::string_view> walk::string() noexcept {
  if (peek() != '"') {
    if (!skip()) return std::nullopt;
    return std::nullopt;
  }
  const std::size_t start = at_[i_] + 1;
  const std::size_t end = end_of_scalar();  // just past the closing quote
  if (end <= start || buf_[end - 1] != '"') {
    fail();
    return std::nullopt;
  }
  std::string_view raw(buf_ + start, end - 1 - start);
  if (raw.find('\\') != std::string_view::npos) {  // escapes: left to a whole parse
    fail();
    return std::nullopt;
  }
  ++i_;
  return raw;
}

namespace {

// The number [first, last) as a T, as simdjson's DOM would give it: nullopt when it is of another
// type (a fraction or an exponent; a negative number asked for unsigned; a positive one past
// INT64_MAX asked for signed, which the DOM keeps as unsigned); `failed` when the DOM would not
// have read the number at all (past 64 bits) or it is not a number.
template <typename T>
std::optional<T> integer(const char* first, const char* last, bool& failed) {
  for (const char* p = first; p != last; ++p)
    if (*p == '.' || *p == 'e' || *p == 'E') return std::nullopt;
  const bool negative = first != last && *first == '-';
  if constexpr (std::is_unsigned_v<T>) {
    if (negative) return std::nullopt;
  }
  T v{};
  const auto [end, ec] = std::from_chars(first, last, v);
  if (ec == std::errc() && end == last) return v;
  if (ec == std::errc::result_out_of_range && std::is_signed_v<T> && !negative) return std::nullopt;
  failed = true;
  return std::nullopt;
}

}  // namespace

template <typename T>
std::optional<T> walk::number() noexcept {
  const char c = peek();
  if (c != '-' && (c < '0' || c > '9')) {
    skip();
    return std::nullopt;
  }
  auto v = integer<T>(buf_ + at_[i_], buf_ + end_of_scalar(), failed_);
  ++i_;
  return v;
}

std::optional<std::int64_t> walk::int64() noexcept { return number<std::int64_t>(); }
std::optional<std::uint64_t> walk::uint64() noexcept { return number<std::uint64_t>(); }

std::optional<bool> walk::boolean() noexcept {
  const char c = peek();
  if (c == 't' || c == 'f') {
    ++i_;
    return c == 't';
  }
  skip();
  return std::nullopt;
}

}  // namespace backfill::json
