// Splitting a separated list ("a;b;c", "host1,.example.com") into its fields.
#pragma once

#include <string_view>
#include <vector>

namespace backfill {

// The fields of `list` between `sep`s, in order and untrimmed; empty fields are kept, so "" is one
// empty field and "a," is "a" and "". The views point into `list`.
inline std::vector<std::string_view> split(std::string_view list, char sep) {
  std::vector<std::string_view> out;
  std::size_t pos = 0;
  while (true) {
    const std::size_t end = list.find(sep, pos);
    if (end == std::string_view::npos) {
      out.push_back(list.substr(pos));
      return out;
    }
    out.push_back(list.substr(pos, end - pos));
    pos = end + 1;
  }
}

}  // namespace backfill
