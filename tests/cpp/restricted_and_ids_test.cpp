// Jira content restricted to a role or group stays out of the index unless asked for, and then
// carries its restriction; an issue key becomes a printable document id.
#include <gtest/gtest.h>

#include <string>
#include <variant>
#include <vector>

#include "backfill/core/errors.hpp"
#include "backfill/sources/document_page.hpp"
#include "backfill/sources/jira/jira.hpp"

using backfill::document;

namespace {

std::string comment(const std::string& id, const std::string& text, const std::string& visibility = "") {
  return R"({"id":")" + id + R"(","created":"2024-01-0)" + id +
         R"(T10:00:00.000+0000","author":{"displayName":"A"},)" +
         (visibility.empty() ? "" : R"("visibility":)" + visibility + ",") +
         R"("body":{"type":"doc","version":1,"content":[{"type":"paragraph","content":[{"type":"text","text":")" +
         text + R"("}]}]}})";
}

// SUBS-1 with a public comment and a role-restricted one embedded, and a group-restricted one from
// the comment pages read past search's 20.
const std::string kPage =
    R"({"search":{"isLast":true,"issues":[{"key":"SUBS-1","fields":{"summary":"s","project":{"key":"SUBS"},)"
    R"("comment":{"total":3,"comments":[)" +
    comment("1", "public words") + "," +
    comment("2", "ADMIN-ONLY words",
            R"({"type":"role","value":"Administrators","identifier":"Administrators"})") +
    R"(]}}}]},"comments":{"SUBS-1":[{"startAt":0,"total":3,"comments":[)" +
    comment("3", "DEVS-ONLY words", R"({"type":"group","value":"jira-devs"})") + "," +
    comment("4", "null visibility is public", "null") + "]}]}}";

std::vector<document> normalize(bool include_restricted) {
  std::string padded = kPage;
  padded.reserve(padded.size() + 64);
  std::vector<document> docs;
  backfill::normalize_jira_page(
      padded, "https://acme.atlassian.net", [&](document&& d) { docs.push_back(std::move(d)); }, {},
      include_restricted);
  return docs;
}

}  // namespace

TEST(JiraRestricted, RestrictedCommentsAreLeftOutByDefault) {
  auto docs = normalize(false);
  ASSERT_EQ(docs.size(), 1u);
  const document& d = docs[0];
  EXPECT_NE(d.text.find("public words"), std::string::npos);
  EXPECT_NE(d.text.find("null visibility is public"), std::string::npos);
  EXPECT_EQ(d.text.find("ADMIN-ONLY"), std::string::npos) << d.text;
  EXPECT_EQ(d.text.find("DEVS-ONLY"), std::string::npos) << d.text;
  EXPECT_EQ(d.meta.get("visibility"), nullptr);
  EXPECT_EQ(std::get<double>(*d.meta.get("comment_count")), 2.0);
}

TEST(JiraRestricted, IncludedRestrictedCommentsCarryTheirVisibility) {
  auto docs = normalize(true);
  ASSERT_EQ(docs.size(), 1u);
  const document& d = docs[0];
  EXPECT_NE(d.text.find("ADMIN-ONLY"), std::string::npos);
  EXPECT_NE(d.text.find("DEVS-ONLY"), std::string::npos);
  const auto* v = d.meta.get("visibility");
  ASSERT_NE(v, nullptr);
  EXPECT_EQ(std::get<std::vector<std::string>>(*v),
            (std::vector<std::string>{"group:jira-devs", "role:Administrators"}));
}

TEST(JiraIds, ControlCharactersInAKeyAreEscaped) {
  EXPECT_EQ(backfill::escape_key(std::string("AB-1\0x", 6)), "AB-1%00x");
  EXPECT_EQ(backfill::escape_key("A\nB\x7f%C"), "A%0AB%7F%25C");
  EXPECT_EQ(backfill::escape_key("SUBS-652"), "SUBS-652");
  std::string page =
      std::string(R"({"search":{"issues":[{"key":"AB-1\u0000\u001b","fields":{"project":{"key":"AB"}}}]}})");
  page.reserve(page.size() + 64);
  std::vector<document> docs;
  backfill::normalize_jira_page(page, "https://x", [&](document&& d) { docs.push_back(std::move(d)); });
  ASSERT_EQ(docs.size(), 1u);
  EXPECT_EQ(docs[0].id, "jira:AB-1%00%1B");
}

TEST(DocumentPageIds, ControlCharactersInAnIdAreRefused) {
  std::string page = R"({"documents": [{"id": "ok:1"}, {"id": "bad:\u0000:2"}]})";
  page.reserve(page.size() + 64);
  try {
    backfill::read_document_page(page, "python", "p", [](document&&) {});
    FAIL();
  } catch (const backfill::source_error& e) {
    EXPECT_NE(std::string(e.what()).find("document 1 of a page: its id holds the control character 0x00"),
              std::string::npos)
        << e.what();
  }
}
