#include "backfill/sources/user_filter.hpp"

#include <cctype>
#include <cstddef>

#include <fmt/format.h>

#include "backfill/core/errors.hpp"

namespace backfill {
namespace {

bool word_char(char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; }

bool word_at(std::string_view s, std::size_t i, std::string_view word) {
  if (i + word.size() > s.size() || (i > 0 && word_char(s[i - 1]))) return false;
  for (std::size_t k = 0; k < word.size(); ++k)
    if (std::tolower(static_cast<unsigned char>(s[i + k])) != word[k]) return false;
  return i + word.size() == s.size() || !word_char(s[i + word.size()]);
}

// Whether "order" at `i` is followed by "by" (after blanks): the keyword pair, outside literals.
bool order_by_at(std::string_view s, std::size_t i) {
  if (!word_at(s, i, "order")) return false;
  std::size_t j = i + 5;
  if (j >= s.size() || !std::isspace(static_cast<unsigned char>(s[j]))) return false;
  while (j < s.size() && std::isspace(static_cast<unsigned char>(s[j]))) ++j;
  return word_at(s, j, "by");
}

}  // namespace

void check_user_filter(std::string_view filter, std::string_view setting) {
  auto refuse = [&](const std::string& fault) {
    throw config_error(fmt::format(
        "{} {}: the filter is ANDed in parentheses after the project and time bound, so its parentheses "
        "must balance and its quotes close",
        setting, fault));
  };
  int depth = 0;
  char quote = 0;
  std::size_t opened_at = 0;
  for (std::size_t i = 0; i < filter.size(); ++i) {
    const char c = filter[i];
    if (quote) {
      if (c == '\\')
        ++i;  // an escaped character, the quote included
      else if (c == quote)
        quote = 0;
      continue;
    }
    if (c == '"' || c == '\'') {
      quote = c;
      opened_at = i;
    } else if (c == '(') {
      ++depth;
    } else if (c == ')') {
      if (--depth < 0) refuse(fmt::format("has a ')' without its '(' (character {})", i + 1));
    } else if ((c == 'o' || c == 'O') && order_by_at(filter, i)) {
      throw config_error(
          fmt::format("{} has ORDER BY (character {}): backfill orders the results by key to page through "
                      "them; remove it",
                      setting, i + 1));
    }
  }
  if (quote) refuse(fmt::format("has a {} quote that is not closed (character {})", quote, opened_at + 1));
  if (depth > 0) refuse(fmt::format("has {} '(' without its ')'", depth));
}

}  // namespace backfill
