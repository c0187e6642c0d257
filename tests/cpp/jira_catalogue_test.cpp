// Tests of the Jira field catalogue: which fields a run shows (by display name, by id, or the issue
// view's default), what the search asks for, what a journal page records, and the error that names
// a field the site does not have.
#include "backfill/sources/jira/catalogue.hpp"

#include <gtest/gtest.h>
#include <simdjson.h>

#include <string>
#include <vector>

#include "backfill/core/context.hpp"
#include "backfill/core/errors.hpp"

using backfill::jira_catalogue::choose;
using backfill::jira_catalogue::close_matches;

namespace {

// A site's GET /rest/api/3/field, shaped as Jira Cloud answers it (FieldDetails).
const std::string catalogue = R"([
  {"id":"summary","key":"summary","name":"Summary","custom":false,"schema":{"type":"string","system":"summary"}},
  {"id":"customfield_10011","key":"customfield_10011","name":"Epic Name","custom":true,
   "schema":{"type":"string","custom":"com.pyxis.greenhopper.jira:gh-epic-label","customId":10011}},
  {"id":"status","key":"status","name":"Status","custom":false,"schema":{"type":"status","system":"status"}},
  {"id":"issuelinks","key":"issuelinks","name":"Linked Issues","custom":false,
   "schema":{"type":"array","items":"issuelinks","system":"issuelinks"}},
  {"id":"customfield_10050","key":"customfield_10050","name":"Acceptance Criteria","custom":true,
   "schema":{"type":"string","custom":"com.atlassian.jira.plugin.system.customfieldtypes:textarea","customId":10050}},
  {"id":"customfield_10026","key":"customfield_10026","name":"Story Points","custom":true,
   "schema":{"type":"number","custom":"com.atlassian.jira.plugin.system.customfieldtypes:float","customId":10026}},
  {"id":"customfield_10027","key":"customfield_10027","name":"Story Points","custom":true,
   "schema":{"type":"number","custom":"com.atlassian.jira.plugin.system.customfieldtypes:float","customId":10027}},
  {"id":"priority","key":"priority","name":"Priority","custom":false,"schema":{"type":"priority","system":"priority"}},
  {"id":"issuekey","key":"issuekey","name":"Key","custom":false}
])";

const std::string read_always =
    "summary,description,status,issuetype,priority,labels,components,assignee,reporter,created,updated,"
    "comment,project,parent";

std::string padded(std::string s) {
  s.reserve(s.size() + simdjson::SIMDJSON_PADDING);
  return s;
}

}  // namespace

TEST(JiraCatalogue, ByDefaultTheIssueViewsFieldsAndRichTextCustomFields) {
  const auto c = choose(padded(catalogue), {}, "https://x.example");
  // The issue view's order (status, priority, ..., linked issues), then rich text; no Epic Name.
  EXPECT_EQ(c.ids, (std::vector<std::string>{"status", "priority", "issuelinks", "customfield_10050"}));
  EXPECT_EQ(c.api_fields, read_always + ",issuelinks,customfield_10050");
  EXPECT_EQ(c.page_fields,
            R"([{"id":"status","name":"Status","schema":{"type":"status","system":"status"}},)"
            R"({"id":"priority","name":"Priority","schema":{"type":"priority","system":"priority"}},)"
            R"({"id":"issuelinks","name":"Linked Issues","schema":{"type":"array","items":"issuelinks",)"
            R"("system":"issuelinks"}},{"id":"customfield_10050","name":"Acceptance Criteria","schema":)"
            R"({"type":"string","custom":"com.atlassian.jira.plugin.system.customfieldtypes:textarea",)"
            R"("customId":10050}}])");
}

TEST(JiraCatalogue, NamesInAnyCaseAndIdsChooseFieldsInTheOrderGiven) {
  const auto c = choose(padded(catalogue), {"epic name", "Story Points", "status", "customfield_10011"},
                        "https://x.example");
  // A name two fields share chooses both; a field named twice is shown once.
  EXPECT_EQ(c.ids, (std::vector<std::string>{"customfield_10011", "customfield_10026", "customfield_10027",
                                             "status"}));
  EXPECT_EQ(c.api_fields, read_always + ",customfield_10011,customfield_10026,customfield_10027");
  EXPECT_NE(c.page_fields.find(R"({"id":"customfield_10011","name":"Epic Name","schema":)"),
            std::string::npos);
}

TEST(JiraCatalogue, AnUnknownNameIsOneLineNamingItAndItsCloseMatches) {
  try {
    choose(padded(catalogue), {"Status", "Epic Nmae"}, "https://x.example");
    FAIL() << "no error";
  } catch (const backfill::config_error& e) {
    const std::string what = e.what();
    EXPECT_EQ(what,
              "source.fields: Jira https://x.example has no field named 'Epic Nmae'; did you mean 'Epic "
              "Name'? (names as GET /rest/api/3/field lists them, or field ids such as customfield_10011)");
  }
  try {
    choose(padded(catalogue), {"Sprint"}, "https://x.example");
    FAIL() << "no error";
  } catch (const backfill::config_error& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("no field named 'Sprint' (names as"), std::string::npos) << what;
    EXPECT_EQ(what.find('\n'), std::string::npos);
  }
}

TEST(JiraCatalogue, CloseMatchesAreNearestFirst) {
  const std::vector<std::string> names = {"Story Points", "Story point estimate", "Status", "Epic Name",
                                          "Epic Link"};
  EXPECT_EQ(close_matches("story pionts", names), (std::vector<std::string>{"Story Points"}));
  EXPECT_EQ(close_matches("Epic", names),
            (std::vector<std::string>{"Epic Name", "Epic Link"}));  // ties: as listed
  EXPECT_EQ(close_matches("Stats", names), (std::vector<std::string>{"Status"}));
  EXPECT_TRUE(close_matches("Team", names).empty());
}

TEST(JiraCatalogue, AnAnswerThatIsNotAFieldListIsASourceError) {
  EXPECT_THROW(choose(padded(R"({"errorMessages":[]})"), {}, "https://x.example"), backfill::source_error);
  EXPECT_THROW(choose(padded("<html>"), {}, "https://x.example"), backfill::source_error);
  EXPECT_TRUE(choose(padded("[]"), {}, "https://x.example").ids.empty());
}

TEST(RunContextWarnings, EveryOneIsCountedAndTheFirstOfEachKindKept) {
  backfill::run_context ctx;
  ctx.warn("jira field customfield_1", "Jira A-1: field 'X' ...");
  ctx.warn("jira field customfield_1", "Jira A-2: field 'X' ...");
  ctx.warn("jira field customfield_2", "Jira A-2: field 'Y' ...");
  EXPECT_EQ(ctx.warnings(), 3);
  EXPECT_EQ(ctx.warning_examples(),
            (std::vector<std::string>{"Jira A-1: field 'X' ...", "Jira A-2: field 'Y' ..."}));
  for (std::size_t i = 0; i < 2 * backfill::run_context::max_warning_kinds; ++i)
    ctx.warn("kind " + std::to_string(i), "message");
  EXPECT_EQ(ctx.warnings(), 3 + 2 * static_cast<std::int64_t>(backfill::run_context::max_warning_kinds));
  EXPECT_EQ(ctx.warning_examples().size(), backfill::run_context::max_warning_kinds);
}
