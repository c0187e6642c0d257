// GitHub normalization: Markdown as readable text, and journal pages (issues with reviews, comment
// listings) merged into one document per issue or pull request.
#include <gtest/gtest.h>

#include <map>
#include <string>
#include <vector>

#include "backfill/sources/github/github.hpp"

namespace {

using backfill::document;

std::string md(std::string_view in) {
  std::string out;
  backfill::github_markdown_to_text(in, out);
  return out;
}

class pages final : public backfill::page_reader {
 public:
  explicit pages(std::vector<std::string> bodies) : bodies_(std::move(bodies)) {
    for (auto& b : bodies_) b.reserve(b.size() + 64);
  }
  void for_each(
      const std::function<void(std::int64_t, const std::string&, const std::string&)>& fn) override {
    for (std::size_t i = 0; i < bodies_.size(); ++i)
      fn(static_cast<std::int64_t>(i), bodies_[i], "page-" + std::to_string(i));
  }
  void for_each_in(
      std::string_view,
      const std::function<void(std::int64_t, const std::string&, const std::string&)>&) override {}

 private:
  std::vector<std::string> bodies_;
};

std::map<std::string, document> run(std::vector<std::string> bodies,
                                    std::vector<std::string> include = {"issues", "pulls", "issue_comments",
                                                                        "review_comments", "reviews"}) {
  pages p(std::move(bodies));
  std::map<std::string, document> out;
  backfill::normalize_github_repo("acme/widgets", p, include,
                                  [&](document&& d) { out[d.id] = std::move(d); });
  return out;
}

const std::string issue7 =
    R"({"number":7,"title":"Lock held","state":"open","html_url":"https://github.com/acme/widgets/issues/7",)"
    R"("user":{"login":"octocat"},"labels":[{"name":"bug"}],"assignees":[{"login":"hubot"}],)"
    R"j("milestone":{"title":"v1"},"body":"See [docs](https://d.example)","created_at":"2024-01-01T00:00:00Z",)j"
    R"("updated_at":"2024-01-02T00:00:00Z","closed_at":null})";
const std::string pull9 =
    R"({"number":9,"title":"Fix lock","state":"closed","html_url":"https://github.com/acme/widgets/pull/9",)"
    R"("user":{"login":"monalisa"},"labels":[],"assignees":[],"body":"Fixes #7","created_at":"2024-01-03T00:00:00Z",)"
    R"("updated_at":"2024-01-04T00:00:00Z","closed_at":"2024-01-04T00:00:00Z",)"
    R"("pull_request":{"url":"x","merged_at":"2024-01-04T00:00:00Z"}})";

std::string comment(int id, int number, std::string_view body, std::string_view updated) {
  return R"({"id":)" + std::to_string(id) +
         R"(,"issue_url":"https://api.github.com/repos/acme/widgets/issues/)" + std::to_string(number) +
         R"(","user":{"login":"hubot"},"body":")" + std::string(body) +
         R"(","created_at":"2024-01-01T01:00:00Z","updated_at":")" + std::string(updated) + R"("})";
}

}  // namespace

TEST(GitHubMarkdown, KeepsCodeDropsTemplateCommentsAndSpellsOutLinks) {
  EXPECT_EQ(md("<!-- fill this in -->\nThe bug.\n"), "The bug.\n");
  EXPECT_EQ(md("a <!-- hidden\nacross lines --> b"), "a \n b\n");
  EXPECT_EQ(md("See [the docs](https://d.example \"title\") now"), "See the docs (https://d.example) now\n");
  EXPECT_EQ(md("![shot](https://i.example/1.png)"), "shot (https://i.example/1.png)\n");
  EXPECT_EQ(md("[https://x.example](https://x.example)"), "https://x.example\n");
  EXPECT_EQ(md("[![badge](https://b.example/b.svg)](https://ci.example)"),
            "badge (https://b.example/b.svg) (https://ci.example)\n");
  EXPECT_EQ(md("```\n[not](link) <!-- kept -->\n```\nafter"), "```\n[not](link) <!-- kept -->\n```\nafter\n");
  EXPECT_EQ(md("use `[a](b)` here, cc @octocat"), "use `[a](b)` here, cc @octocat\n");
  EXPECT_EQ(md("one\r\n\r\n\r\n\r\ntwo"), "one\n\ntwo\n");
  EXPECT_EQ(md("[unclosed link"), "[unclosed link\n");
  EXPECT_EQ(md(""), "");
}

TEST(GitHubNormalize, OneDocumentPerIssueWithEveryCommentReviewAndMetadata) {
  const std::string issues =
      R"({"kind":"issues","repo":"acme/widgets","body":[)" + issue7 + "," + pull9 +
      R"(],"pulls":{},"reviews":{"9":[[{"id":50,"user":{"login":"defunkt"},"body":"LGTM",)"
      R"("state":"APPROVED","submitted_at":"2024-01-03T05:00:00Z"},{"id":51,"user":)"
      R"({"login":"x"},"body":"","state":"COMMENTED","submitted_at":"2024-01-03T06:00:00Z"}]]}})";
  const std::string comments = R"({"kind":"issue_comments","repo":"acme/widgets","body":[)" +
                               comment(100, 7, "first", "2024-01-01T01:00:00Z") + "]}";
  const std::string review_comments =
      R"({"kind":"review_comments","repo":"acme/widgets","body":[{"id":200,"pull_request_url":)"
      R"("https://api.github.com/repos/acme/widgets/pulls/9","user":{"login":"hubot"},"body":"nit",)"
      R"("path":"src/lock.c","line":12,"created_at":"2024-01-03T04:00:00Z","updated_at":"2024-01-03T04:00:00Z"}]})";
  auto docs = run({issues, comments, review_comments});
  ASSERT_EQ(docs.size(), 2u);
  const document& i = docs.at("github:acme/widgets#7");
  EXPECT_EQ(i.title, "acme/widgets#7: Lock held");
  EXPECT_EQ(i.text,
            "Lock held\nIssue · open\nAuthor: octocat\nLabels: bug\nAssignees: hubot\nMilestone: v1\n\n"
            "See docs (https://d.example)\n\nhubot (2024-01-01T01:00:00Z): first");
  EXPECT_EQ(i.updated_at, "2024-01-02T00:00:00Z");
  EXPECT_EQ(std::get<std::string>(*i.meta.get("kind")), "issue");
  EXPECT_EQ(std::get<double>(*i.meta.get("number")), 7);
  EXPECT_EQ(std::get<double>(*i.meta.get("comment_count")), 1);
  EXPECT_EQ(i.meta.get("merged"), nullptr);
  const document& p = docs.at("github:acme/widgets#9");
  EXPECT_EQ(p.text,
            "Fix lock\nPull request · closed · merged\nAuthor: monalisa\n\nFixes #7\n\n"
            "hubot (2024-01-03T04:00:00Z) on src/lock.c line 12: nit\n\n"
            "defunkt approved (2024-01-03T05:00:00Z): LGTM");
  EXPECT_TRUE(std::get<bool>(*p.meta.get("merged")));
  EXPECT_EQ(std::get<std::string>(*p.meta.get("url")), "https://github.com/acme/widgets/pull/9");
}

TEST(GitHubNormalize, RepeatsKeepTheLatestVersionAndIncludeFilters) {
  const std::string page1 = R"({"kind":"issues","repo":"acme/widgets","body":[)" + issue7 + R"(]})";
  std::string newer = issue7;
  newer.replace(newer.find("Lock held"), 9, "Lock freed");
  newer.replace(newer.find("2024-01-02T00:00:00Z"), 20, "2024-02-01T00:00:00Z");
  const std::string page2 =
      R"({"kind":"issues","repo":"acme/widgets","body":[)" + newer + "," + pull9 + R"(]})";
  const std::string c1 = R"({"kind":"issue_comments","repo":"acme/widgets","body":[)" +
                         comment(100, 7, "edited", "2024-02-01T00:00:00Z") + "]}";
  const std::string c0 = R"({"kind":"issue_comments","repo":"acme/widgets","body":[)" +
                         comment(100, 7, "first", "2024-01-01T01:00:00Z") + "]}";
  // An older version read later (a list that moved while it was read) does not win.
  auto docs = run({page2, page1, c1, c0});
  const document& i = docs.at("github:acme/widgets#7");
  EXPECT_EQ(i.title, "acme/widgets#7: Lock freed");
  EXPECT_NE(i.text.find("hubot (2024-01-01T01:00:00Z): edited"), std::string::npos) << i.text;
  EXPECT_EQ(i.text.find("first"), std::string::npos);
  auto only_issues = run({page2, c1}, {"issues", "issue_comments"});
  EXPECT_EQ(only_issues.size(), 1u);
  EXPECT_EQ(only_issues.count("github:acme/widgets#7"), 1u);
  auto no_comments = run({page2, c1}, {"issues"});
  EXPECT_EQ(no_comments.at("github:acme/widgets#7").text.find("edited"), std::string::npos);
}
