#include "backfill/core/fields.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <type_traits>
#include <vector>

namespace backfill {
namespace {

struct sample {
  int count = 3;
  std::string namespace_ = "ns";
  std::vector<std::string> tags = {"a"};
};
BACKFILL_FIELDS(sample, &s::count, &s::namespace_, &s::tags)

struct every_kind {
  sample nested;
  std::filesystem::path path;
  std::map<std::string, std::int64_t> counts;
  std::function<int(std::string_view)> hook;
  std::optional<double> maybe;
  bool flag = false;
};

TEST(Fields, MemberCountSeesEveryMemberOfAnAggregate) {
  static_assert(member_count<sample>() == 3);
  static_assert(member_count<every_kind>() == 6);
}

TEST(Fields, NamesFollowTheMembersInOrderWithoutTheTrailingUnderscore) {
  std::vector<std::string> names;
  fields_of(static_cast<const sample*>(nullptr)).each([&](std::string_view name, auto) {
    names.emplace_back(name);
  });
  EXPECT_EQ(names, (std::vector<std::string>{"count", "namespace", "tags"}));
}

TEST(Fields, EachMemberPointerReadsItsOwnField) {
  sample v;
  std::string seen;
  fields_of(&v).each([&](std::string_view name, auto member) {
    using value = std::decay_t<decltype(v.*member)>;
    if constexpr (std::is_same_v<value, int>)
      seen += std::string(name) + "=" + std::to_string(v.*member) + ";";
    if constexpr (std::is_same_v<value, std::string>) seen += std::string(name) + "=" + v.*member + ";";
    if constexpr (std::is_same_v<value, std::vector<std::string>>)
      seen += std::string(name) + "=" + (v.*member).front() + ";";
  });
  EXPECT_EQ(seen, "count=3;namespace=ns;tags=a;");
}

}  // namespace
}  // namespace backfill
