// The fields of a plain struct (options, reports), listed once beside the struct:
//
//   struct fetch_report { std::int64_t pages = 0; std::int64_t items = 0; };
//   BACKFILL_FIELDS(fetch_report, &s::pages, &s::items)
//
// declares fields_of(const fetch_report*), found by argument-dependent lookup, which hands each field's
// name and member pointer to a visitor. A field's name is the member's own, a trailing underscore
// dropped (`namespace_` is "namespace"). The Python binding makes every listed field an attribute,
// so a field added to a struct and to its list reaches Python with no other change; a list that misses
// a member of its struct does not compile.
#pragma once

#include <cstddef>
#include <string_view>
#include <tuple>
#include <utility>

namespace backfill {

namespace detail {
// Converts to any member type. Copy-initializing a member from it can only use this conversion (a
// constructor of the member's type would need a second user-defined conversion), so T{field{}...}
// compiles exactly when there are at most as many initializers as T has members.
struct any_field {
  template <class T>
  operator T() const;
};
template <class T, std::size_t... I>
constexpr bool initializable_with(std::index_sequence<I...>) {
  return requires { T{(static_cast<void>(I), any_field{})...}; };
}
}  // namespace detail

// The number of members of the aggregate T.
template <class T, std::size_t N = 0>
constexpr std::size_t member_count() {
  if constexpr (detail::initializable_with<T>(std::make_index_sequence<N + 1>{}))
    return member_count<T, N + 1>();
  else
    return N;
}

template <class... M>
class field_list {
 public:
  static constexpr std::size_t size = sizeof...(M);

  constexpr field_list(std::string_view spelled, M... members) : spelled_(spelled), members_(members...) {}

  // f(name, member) for every field, in order.
  template <class F>
  void each(F&& f) const {
    std::string_view rest = spelled_;
    std::apply([&](auto... member) { (f(next_name(rest), member), ...); }, members_);
  }

 private:
  // The name of the next entry of "&s::a, &s::b_": the text after its last "::", less a trailing '_'.
  static std::string_view next_name(std::string_view& rest) {
    const std::size_t comma = rest.find(',');
    std::string_view entry = rest.substr(0, comma);
    rest = comma == std::string_view::npos ? std::string_view() : rest.substr(comma + 1);
    entry = entry.substr(entry.rfind("::") + 2);
    while (!entry.empty() && (entry.back() == ' ' || entry.back() == '_')) entry.remove_suffix(1);
    return entry;
  }

  std::string_view spelled_;
  std::tuple<M...> members_;
};

// A list that leaves members out on purpose (a ledger row shown without its cursor): no completeness check.
#define BACKFILL_SOME_FIELDS(S, ...)                          \
  inline auto fields_of(const S*) {                           \
    using s = S;                                              \
    return ::backfill::field_list(#__VA_ARGS__, __VA_ARGS__); \
  }

#define BACKFILL_FIELDS(S, ...)                                                  \
  inline auto fields_of(const S*) {                                              \
    using s = S;                                                                 \
    auto list = ::backfill::field_list(#__VA_ARGS__, __VA_ARGS__);               \
    static_assert(decltype(list)::size == ::backfill::member_count<S>(),         \
                  "BACKFILL_FIELDS(" #S ", ...) must list every member of " #S); \
    return list;                                                                 \
  }

}  // namespace backfill
