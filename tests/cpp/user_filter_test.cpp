// A user's filter stays inside the parentheses it is ANDed in, and leaves the order to the source.
#include "backfill/sources/user_filter.hpp"

#include <gtest/gtest.h>

#include "backfill/core/errors.hpp"

using backfill::check_user_filter;
using backfill::config_error;

namespace {

std::string refusal(std::string_view filter) {
  try {
    check_user_filter(filter, "source.jql");
  } catch (const config_error& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST(UserFilter, FiltersThatStandOnTheirOwnPass) {
  for (std::string_view ok : {"labels = x", "(a = 1 OR b = 2) AND c in (3, 4)", R"(summary ~ "a ) b")",
                              R"(summary ~ 'it''s' OR summary ~ "say \"hi\" (")", "text ~ \"order by\"",
                              "reorder = 1 AND border by_x", "labels = ordered_by"})
    EXPECT_EQ(refusal(ok), "") << ok;
}

TEST(UserFilter, EscapingTheParenthesesIsRefused) {
  std::string w = refusal("labels = x) OR (project = SECRET");
  EXPECT_NE(w.find("source.jql has a ')' without its '(' (character 11)"), std::string::npos) << w;
  EXPECT_EQ(w.find('\n'), std::string::npos);
  EXPECT_NE(refusal("(labels = x").find("1 '(' without its ')'"), std::string::npos);
  EXPECT_NE(refusal("summary ~ \"open").find("quote that is not closed"), std::string::npos);
  EXPECT_NE(refusal("summary ~ 'open) OR (x = 1").find("quote that is not closed"), std::string::npos);
}

TEST(UserFilter, OrderByIsRefused) {
  for (std::string_view bad :
       {"labels = x ORDER BY created DESC", "labels = x order\n  by key", "ORDER BY key"}) {
    std::string w = refusal(bad);
    EXPECT_NE(w.find("source.jql has ORDER BY"), std::string::npos) << bad << ": " << w;
  }
}
