// Tests of Jira normalization: journal pages ({"search": <raw /search/jql body>, "comments": {"KEY":
// [<raw comment pages>]}}) into documents, field by field, and Jira's times as UTC.
#include "backfill/sources/jira/jira.hpp"

#include <gtest/gtest.h>
#include <simdjson.h>

#include <string>
#include <variant>
#include <vector>

#include "backfill/core/errors.hpp"

using backfill::document;
using backfill::jira_time_to_utc;

namespace {

std::vector<document> normalize(const std::string& page,
                                std::string_view site = "https://acme.atlassian.net") {
  std::vector<document> docs;
  backfill::normalize_jira_page(page, site, [&](document&& d) { docs.push_back(std::move(d)); });
  return docs;
}

// The same page with simdjson padding capacity, as the journal hands it over.
std::string padded(const std::string& page) {
  std::string s = page;
  s.reserve(s.size() + simdjson::SIMDJSON_PADDING);
  return s;
}

std::string page_of(const std::string& issues, const std::string& comments = "{}") {
  return R"({"search":{"isLast":true,"issues":[)" + issues + R"(]},"comments":)" + comments + "}";
}

std::string adf(const std::string& text) {
  return R"({"type":"doc","version":1,"content":[{"type":"paragraph","content":[{"type":"text","text":")" +
         text + R"("}]}]})";
}

std::string comment(const std::string& id, const std::string& created, const std::string& author,
                    const std::string& text) {
  std::string c = R"({"id":")" + id + R"(","created":")" + created + R"(",)";
  if (!author.empty()) c += R"("author":{"displayName":")" + author + R"("},)";
  return c + R"("body":)" + adf(text) + "}";
}

template <class T>
T meta(const document& d, std::string_view key) {
  const auto* v = d.meta.get(key);
  if (!v) throw std::runtime_error("no metadata field " + std::string(key));
  return std::get<T>(*v);
}

// An issue with every field the source asks for.
const std::string full_issue = R"({"key":"SUBS-652","id":"10652","fields":{
  "summary":"Invoices charged twice","project":{"key":"SUBS","name":"Subscriptions"},
  "created":"2024-01-15T10:30:00.000+0100","updated":"2024-02-01T08:00:00.000-0500",
  "status":{"name":"In Progress"},"issuetype":{"name":"Bug"},"priority":{"name":"High"},
  "assignee":{"displayName":"Zoë Ångström"},"reporter":{"displayName":"Olaf"},"parent":{"key":"SUBS-600"},
  "labels":["billing","p1"],"components":[{"name":"Payments"},{"name":"API"}],
  "description":)" + adf("Customers are charged twice.") +
                               R"(,
  "comment":{"total":1,"maxResults":20,"comments":[)" +
                               comment("7", "2024-01-16T09:00:00.000+0000", "Ann", "Looking into it.") +
                               "]}}}";

}  // namespace

TEST(JiraNormalize, IssueFieldsBecomeTheDocument) {
  const auto docs = normalize(padded(page_of(full_issue)), "https://acme.atlassian.net/");
  ASSERT_EQ(docs.size(), 1u);
  const document& d = docs[0];
  EXPECT_EQ(d.id, "jira:SUBS-652");
  EXPECT_EQ(d.source, "jira");
  EXPECT_EQ(d.partition, "SUBS");
  EXPECT_EQ(d.title, "SUBS-652: Invoices charged twice");
  EXPECT_EQ(d.url, "https://acme.atlassian.net/browse/SUBS-652");
  EXPECT_EQ(d.created_at, "2024-01-15T09:30:00Z");
  EXPECT_EQ(d.updated_at, "2024-02-01T13:00:00Z");
  EXPECT_EQ(d.text,
            "Customers are charged twice.\n\n"
            "Status: In Progress\nPriority: High\nAssignee: Zoë Ångström\nReporter: Olaf\n"
            "Labels: billing, p1\nComponents: Payments, API\nParent: SUBS-600\n\n"
            "Ann (2024-01-16T09:00:00Z): Looking into it.");
  EXPECT_EQ(meta<std::string>(d, "project"), "SUBS");
  EXPECT_EQ(meta<std::string>(d, "status"), "In Progress");
  EXPECT_EQ(meta<std::string>(d, "type"), "Bug");
  EXPECT_EQ(meta<std::string>(d, "priority"), "High");
  EXPECT_EQ(meta<std::string>(d, "assignee"), "Zoë Ångström");
  EXPECT_EQ(meta<std::string>(d, "reporter"), "Olaf");
  EXPECT_EQ(meta<std::string>(d, "parent"), "SUBS-600");
  EXPECT_EQ(meta<std::vector<std::string>>(d, "labels"), (std::vector<std::string>{"billing", "p1"}));
  EXPECT_EQ(meta<std::vector<std::string>>(d, "components"), (std::vector<std::string>{"Payments", "API"}));
  EXPECT_EQ(meta<double>(d, "comment_count"), 1.0);
  EXPECT_EQ(d.meta.fields().size(), 10u);
}

TEST(JiraNormalize, UnpaddedBodyGivesTheSameDocuments) {
  const std::string page = page_of(full_issue);
  std::string tight(page.begin(), page.end());
  tight.shrink_to_fit();
  const auto a = normalize(tight);
  const auto b = normalize(padded(page));
  ASSERT_EQ(a.size(), 1u);
  ASSERT_EQ(b.size(), 1u);
  EXPECT_EQ(a[0].content_hash(), b[0].content_hash());
}

TEST(JiraNormalize, FetchedCommentsMergeWithEmbeddedOnesOnceInOrderOfCreation) {
  const std::string issue = R"({"key":"OPS-1","fields":{"summary":"s","project":{"key":"OPS"},
    "comment":{"total":4,"comments":[)" +
                            comment("11", "2024-03-02T10:00:00.000+0000", "Bea", "second") + "," +
                            comment("10", "2024-03-01T10:00:00.000+0000", "Ann", "first") + "]}}}";
  // The comment pages hold the embedded ones again, and two more: one without an author, and one
  // created at the same instant as another (ordered by id then).
  const std::string pages = R"({"OPS-1":[{"startAt":0,"total":4,"comments":[)" +
                            comment("10", "2024-03-01T10:00:00.000+0000", "Ann", "first") + "," +
                            comment("11", "2024-03-02T10:00:00.000+0000", "Bea", "second") + R"(]},)" +
                            R"({"startAt":2,"total":4,"comments":[)" +
                            comment("13", "2024-03-03T10:00:00.000+0000", "Cy", "fourth") + "," +
                            comment("12", "2024-03-03T11:00:00.000+0100", "", "third") + "]}]}";
  const auto docs = normalize(padded(page_of(issue, pages)));
  ASSERT_EQ(docs.size(), 1u);
  EXPECT_EQ(docs[0].text,
            "Ann (2024-03-01T10:00:00Z): first\n\n"
            "Bea (2024-03-02T10:00:00Z): second\n\n"
            "Someone (2024-03-03T10:00:00Z): third\n\n"
            "Cy (2024-03-03T10:00:00Z): fourth");
  EXPECT_EQ(meta<double>(docs[0], "comment_count"), 4.0);
}

// Search embeds a comment and its page brings it again: the embedded copy is the one kept (the page's
// copy is not rendered), and a copy with the same id is the same comment whatever time it carries. A
// member given twice counts the first time, as a lookup by key reads it.
TEST(JiraNormalize, TheEmbeddedCopyOfACommentIsTheOneKept) {
  const std::string issue = R"({"key":"OPS-2","fields":{"summary":"s","project":{"key":"OPS"},
    "comment":{"total":3,"comments":[)" +
                            comment("20", "2024-03-01T10:00:00.000+0000", "Ann", "embedded") + "]}}}";
  const std::string pages = R"({"OPS-2":[{"startAt":0,"total":3,"comments":[)" +
                            comment("20", "2024-03-01T10:00:00.000+0000", "Ann", "paged") + "," +
                            comment("20", "2024-03-04T10:00:00.000+0000", "Ann", "moved") + "," +
                            R"({"id":"21","id":"22","created":"2024-03-05T10:00:00.000+0000",)"
                            R"("created":"2024-01-01T00:00:00.000+0000","author":{"displayName":"Bo"},)"
                            R"("body":"plain","body":"second body"})" +
                            "]}]}";
  const auto docs = normalize(padded(page_of(issue, pages)));
  ASSERT_EQ(docs.size(), 1u);
  EXPECT_EQ(docs[0].text,
            "Ann (2024-03-01T10:00:00Z): embedded\n\n"
            "Bo (2024-03-05T10:00:00Z): plain");
  EXPECT_EQ(meta<double>(docs[0], "comment_count"), 2.0);
}

TEST(JiraNormalize, CommentPagesOfOtherIssuesStayWithTheirIssue) {
  const std::string a = R"({"key":"A-1","fields":{"summary":"a","project":{"key":"A"}}})";
  const std::string b = R"({"key":"A-2","fields":{"summary":"b","project":{"key":"A"}}})";
  const std::string pages =
      R"({"A-2":[{"comments":[)" + comment("1", "2024-01-01T00:00:00.000Z", "Ann", "on two") + "]}]}";
  const auto docs = normalize(padded(page_of(a + "," + b, pages)));
  ASSERT_EQ(docs.size(), 2u);
  EXPECT_EQ(docs[0].text, "");
  EXPECT_EQ(meta<double>(docs[0], "comment_count"), 0.0);
  EXPECT_EQ(docs[1].text, "Ann (2024-01-01T00:00:00Z): on two");
}

TEST(JiraNormalize, MissingOptionalFieldsAreLeftOut) {
  const std::string bare = R"({"key":"X-9","fields":{"summary":"only a summary","description":null,
    "assignee":null,"labels":[],"components":[]}})";
  const auto docs = normalize(padded(page_of(bare)));
  ASSERT_EQ(docs.size(), 1u);
  const document& d = docs[0];
  EXPECT_EQ(d.id, "jira:X-9");
  EXPECT_EQ(d.partition, "");
  EXPECT_EQ(d.title, "X-9: only a summary");
  EXPECT_EQ(d.text, "");
  EXPECT_EQ(d.created_at, "");
  EXPECT_EQ(d.updated_at, "");
  for (const char* absent : {"status", "type", "priority", "assignee", "reporter", "parent"})
    EXPECT_EQ(d.meta.get(absent), nullptr) << absent;
  EXPECT_EQ(meta<std::string>(d, "project"), "");
  EXPECT_TRUE(meta<std::vector<std::string>>(d, "labels").empty());
  EXPECT_TRUE(meta<std::vector<std::string>>(d, "components").empty());
  EXPECT_EQ(meta<double>(d, "comment_count"), 0.0);
}

TEST(JiraNormalize, IssuesWithoutKeyOrFieldsAreSkipped) {
  const std::string no_key = R"({"id":"1","fields":{"summary":"no key"}})";
  const std::string no_fields = R"({"key":"Y-1"})";
  const std::string ok = R"({"key":"Y-2","fields":{"summary":"kept"}})";
  const auto docs = normalize(padded(page_of(no_key + "," + no_fields + "," + ok)));
  ASSERT_EQ(docs.size(), 1u);
  EXPECT_EQ(docs[0].id, "jira:Y-2");
}

TEST(JiraNormalize, PageWithoutCommentsMapNormalizes) {
  const auto docs = normalize(padded(R"({"search":{"issues":[{"key":"Z-1","fields":{"summary":"z"}}]}})"));
  ASSERT_EQ(docs.size(), 1u);
  EXPECT_EQ(docs[0].title, "Z-1: z");
}

// API v2 gives the description as a plain string rather than ADF: it is not ADF, so it adds no text
// (the comments still do), and the raw string never leaks into the document.
TEST(JiraNormalize, PlainStringDescriptionsAndCommentBodiesAreRead) {
  const std::string v2 = R"({"key":"V-2","fields":{"summary":"v2","description":"wiki *markup* text",
    "comment":{"total":1,"comments":[)" +
                         comment("1", "2024-05-01T12:00:00.000+0200", "Ann", "a comment") + "]}}}";
  const auto docs = normalize(padded(page_of(v2)));
  ASSERT_EQ(docs.size(), 1u);
  EXPECT_EQ(docs[0].text, "wiki *markup* text\n\nAnn (2024-05-01T10:00:00Z): a comment");
  // REST v2 shapes: a bare comment array with string bodies.
  const std::string bare = R"({"key":"V-3","fields":{"summary":"v2","comment":[{"id":"5",)"
                           R"("created":"2024-05-01T12:00:00.000+0200","author":{"displayName":"Bo"},)"
                           R"("body":"plain words"}]}})";
  const auto more = normalize(padded(page_of(bare)));
  ASSERT_EQ(more.size(), 1u);
  EXPECT_EQ(more[0].text, "Bo (2024-05-01T10:00:00Z): plain words");
}

TEST(JiraNormalize, TheFieldsAReaderSeesAreTextAndMetadata) {
  const std::string issue = R"({"key":"ED-1","fields":{"summary":"s","resolution":{"name":"Done"},
    "fixVersions":[{"name":"1.2"}],"subtasks":[{"key":"ED-2","fields":{"summary":"child"}}],
    "issuelinks":[{"type":{"outward":"blocks","inward":"is blocked by"},"outwardIssue":{"key":"PR-2"}},
                  {"type":{"outward":"blocks","inward":"is blocked by"},"inwardIssue":{"key":"PR-3"}},
                  {"outwardIssue":{}}],
    "attachment":[{"filename":"debug.log","id":"1"}],
    "customfield_10011":"EPIC NAME","customfield_10016":5,
    "customfield_10050":{"type":"doc","version":1,"content":[{"type":"paragraph","content":[{"type":"text","text":"rich words"}]}]},
    "customfield_10060":{"odd":true}}})";
  const std::string catalogue = R"(,"fields":[{"id":"resolution","name":"Resolution"},
    {"id":"fixVersions","name":"Fix versions"},{"id":"subtasks","name":"Sub-tasks"},
    {"id":"issuelinks","name":"Linked issues"},{"id":"attachment","name":"Attachments"},
    {"id":"customfield_10011","name":"Epic Name"},{"id":"customfield_10016","name":"Story Points"},
    {"id":"customfield_10050","name":"Acceptance"},{"id":"customfield_10060","name":"Odd One"}]})";
  std::string page = page_of(issue);
  page.insert(page.rfind('}'), catalogue.substr(0, catalogue.size() - 1));
  std::vector<std::string> warnings, kinds;
  std::vector<document> docs;
  backfill::normalize_jira_page(
      padded(page), "https://x.example", [&](document&& d) { docs.push_back(std::move(d)); },
      [&](std::string_view kind, const std::string& w) {
        kinds.emplace_back(kind);
        warnings.push_back(w);
      });
  ASSERT_EQ(docs.size(), 1u);
  EXPECT_EQ(docs[0].text,
            "Resolution: Done\nFix versions: 1.2\nSub-tasks: ED-2 child\n"
            "Linked issues: blocks PR-2, is blocked by PR-3\nAttachments: debug.log\n"
            "Epic Name: EPIC NAME\nStory Points: 5\nAcceptance:\nrich words");
  EXPECT_EQ(meta<std::string>(docs[0], "resolution"), "Done");
  EXPECT_EQ(meta<std::vector<std::string>>(docs[0], "fix_versions"), (std::vector<std::string>{"1.2"}));
  EXPECT_EQ(meta<std::vector<std::string>>(docs[0], "links"),
            (std::vector<std::string>{"blocks PR-2", "is blocked by PR-3"}));
  EXPECT_EQ(meta<std::vector<std::string>>(docs[0], "attachments"), (std::vector<std::string>{"debug.log"}));
  EXPECT_EQ(meta<std::string>(docs[0], "epic_name"), "EPIC NAME");
  EXPECT_EQ(meta<double>(docs[0], "story_points"), 5.0);
  EXPECT_EQ(docs[0].meta.get("acceptance"), nullptr);  // rich text is in the text only
  ASSERT_EQ(warnings.size(), 1u);
  EXPECT_EQ(kinds[0], "jira field customfield_10060");
  EXPECT_EQ(warnings[0],
            "Jira ED-1: field 'Odd One' (customfield_10060) has a value of a shape backfill does not read; "
            "left out");
}

TEST(JiraNormalize, PagesThatAreNotJournalPagesAreSourceErrors) {
  EXPECT_THROW(normalize(padded(R"({"issues":[]})")), backfill::source_error);
  EXPECT_THROW(normalize(padded(R"({"search":{"issues":)")), backfill::source_error);
}

TEST(JiraTime, OffsetsAndFractionsBecomeUtc) {
  EXPECT_EQ(jira_time_to_utc("2024-01-15T10:30:00.000+0100"), "2024-01-15T09:30:00Z");
  EXPECT_EQ(jira_time_to_utc("2024-01-15T10:30:00.123-0530"), "2024-01-15T16:00:00Z");
  EXPECT_EQ(jira_time_to_utc("2024-01-15T10:30:00+01:00"), "2024-01-15T09:30:00Z");
  EXPECT_EQ(jira_time_to_utc("2024-01-15T10:30:00.000Z"), "2024-01-15T10:30:00Z");
  EXPECT_EQ(jira_time_to_utc("2024-01-01T00:30:00.000+0100"), "2023-12-31T23:30:00Z");
  EXPECT_EQ(jira_time_to_utc("2024-01-15"), "");
  EXPECT_EQ(jira_time_to_utc("not a time at all"), "");
}
