// Tests of the Slack message model shared by the Slack sources (backfill/sources/slack/): markup,
// authors, files and attachments, and threads as documents, from message objects alone (no export).
#include "backfill/sources/slack/render.hpp"

#include <gtest/gtest.h>
#include <simdjson.h>

#include <cstring>
#include <string>
#include <vector>

#include "backfill/sources/slack/directory.hpp"
#include "backfill/sources/slack/thread.hpp"
#include "backfill/sources/slack/ts.hpp"

using namespace backfill;

namespace {

slack::directory acme() {
  slack::directory dir;
  simdjson::dom::parser parser;
  simdjson::dom::element list;
  const char* json = R"([
    {"id":"U1","name":"ada","profile":{"display_name":"Ada","real_name":"Ada Lovelace"}},
    {"id":"U2","name":"kenji","real_name":"Kenji Sato"},
    {"id":"C1","name":"general"},
    {"id":"C1","name":"renamed later"},
    {"name":"no id"}
  ])";
  EXPECT_EQ(parser.parse(json, std::strlen(json)).get(list), simdjson::SUCCESS);
  for (simdjson::dom::element e : list.get_array()) dir.add(e.get_object());
  return dir;
}

// Reads `json` (one message object) with `dir`.
slack::message read(const std::string& json, const slack::directory& dir) {
  simdjson::dom::parser parser;
  simdjson::dom::object m;
  EXPECT_EQ(parser.parse(json).get_object().get(m), simdjson::SUCCESS);
  const auto p = slack::place(m);
  EXPECT_TRUE(p.has_value());
  return slack::read_message(m, p->ts, p->ts_us, dir);
}

std::string line_of(const slack::message& m) {
  std::string out;
  slack::append_message(out, m);
  return out;
}

}  // namespace

TEST(SlackDirectory, UsersAndConversationsByIdFirstEntryWins) {
  const slack::directory dir = acme();
  ASSERT_NE(dir.user("U1"), nullptr);
  EXPECT_EQ(*dir.user("U1"), "Ada");
  EXPECT_EQ(*dir.user("U2"), "Kenji Sato");
  EXPECT_EQ(*dir.channel("C1"), "general");
  EXPECT_EQ(dir.user("C1"), nullptr);
  EXPECT_EQ(dir.users.size() + dir.channels.size(), 3u);
}

TEST(SlackRender, MarkupReadsAsText) {
  const slack::directory dir = acme();
  EXPECT_EQ(slack::render_text("hi <@U1> and <@U9|kim> and <@U8>", dir), "hi @Ada and @kim and @U8");
  EXPECT_EQ(slack::render_text("in <#C1|old-name> and <#C7|#other>", dir), "in #general and #other");
  EXPECT_EQ(slack::render_text("<!here> <!channel> <!subteam^S1|@oncall> <!subteam^S2> <!date^1|today>", dir),
            "@here @channel @oncall @S2 today");
  EXPECT_EQ(
      slack::render_text("<https://a.example/x?a=1&amp;b=2|the doc> <https://b.example|https://b.example> "
                         "<mailto:x@y.z|x@y.z> <https://c.example>",
                         dir),
      "the doc (https://a.example/x?a=1&b=2) https://b.example x@y.z https://c.example");
  EXPECT_EQ(slack::render_text("a &lt;b&gt; &amp;amp; &nbsp; 1 < 2 <x", dir), "a <b> &amp; &nbsp; 1 < 2 <x");
}

TEST(SlackRender, MessageLineHasAuthorTimeEditMarkAndExtras) {
  const slack::directory dir = acme();
  const auto m = read(R"({"type":"message","user":"U1","ts":"1700000000.000100","text":"see <@U2>",
    "edited":{"user":"U1","ts":"1700000100.000000"},
    "files":[{"name":"raw.log","title":"Server log"},{"name":"plot.png"},{"mode":"tombstone"}],
    "attachments":[{"title":"Runbook","title_link":"https://wiki/rb","text":"Step one"},
                   {"fallback":"only a fallback"},{"title":"same","text":"same"},{}]})",
                      dir);
  EXPECT_TRUE(m.edited);
  EXPECT_TRUE(m.has_files);
  EXPECT_EQ(m.edited_us, 1700000100000000);
  EXPECT_EQ(
      line_of(m),
      "Ada (2023-11-14T22:13:20Z) (edited): see @Kenji Sato\n[file: Server log]\n[file: plot.png]\n"
      "[attachment: Runbook: Step one https://wiki/rb]\n[attachment: only a fallback]\n[attachment: same]");
}

TEST(SlackRender, AuthorsOfBotsAndUnknownUsers) {
  const slack::directory dir = acme();
  EXPECT_EQ(read(R"({"subtype":"bot_message","bot_id":"B1","username":"deploybot","ts":"1"})", dir).author,
            "deploybot (bot)");
  EXPECT_EQ(read(R"({"bot_id":"B1","bot_profile":{"name":"ci"},"ts":"1"})", dir).author, "ci (bot)");
  EXPECT_EQ(read(R"({"bot_id":"B1","user":"U1","ts":"1"})", dir).author, "Ada (bot)");
  EXPECT_EQ(read(R"({"user":"U5","user_profile":{"real_name":"Mirela"},"ts":"1"})", dir).author, "Mirela");
  EXPECT_EQ(read(R"({"user":"U5","ts":"1"})", dir).author, "U5");
  EXPECT_EQ(read(R"({"username":"guest","ts":"1"})", dir).author, "guest");
  EXPECT_EQ(read(R"({"ts":"1"})", dir).author, "unknown");
}

TEST(SlackThread, ThreadBecomesOneDocumentWhateverTheArrivalOrder) {
  const slack::directory dir = acme();
  slack::thread t;
  t.root_ts = "1700000000.000100";
  // Replies before their parent, one twice (the edited copy wins), a parent seen twice.
  const std::string root = R"("thread_ts":"1700000000.000100")";
  t.add(read(R"({"user":"U2","ts":"1700000300.000000",)" + root + R"(,"text":"second reply"})", dir), true);
  t.add(read(R"({"user":"U1","ts":"1700000200.000000",)" + root + R"(,"text":"first reply"})", dir), true);
  t.add(read(R"({"user":"U1","ts":"1700000200.000000",)" + root +
                 R"(,"text":"first reply, fixed","edited":{"ts":"1700000900.000000"}})",
             dir),
        true);
  t.add(read(R"({"user":"U1","ts":"1700000000.000100",)" + root + R"(,"text":"  Deploy failed\nlogs below"})",
             dir),
        false);
  t.add(read(R"({"user":"U1","ts":"1700000000.000100",)" + root + R"(,"text":"an older copy"})", dir), false);
  const document d =
      slack::thread_document(std::move(t), {"C1", "general", "slack", "https://acme.slack.com"});
  EXPECT_EQ(d.id, "slack:C1:1700000000.000100");
  EXPECT_EQ(d.source, "slack");
  EXPECT_EQ(d.partition, "C1");
  EXPECT_EQ(d.title, "#general: Deploy failed");
  EXPECT_EQ(d.url, "https://acme.slack.com/archives/C1/p1700000000000100");
  EXPECT_EQ(d.created_at, "2023-11-14T22:13:20Z");
  EXPECT_EQ(d.updated_at, "2023-11-14T22:28:20Z");
  EXPECT_EQ(d.text,
            "Ada (2023-11-14T22:13:20Z):   Deploy failed\nlogs below\n\n"
            "Ada (2023-11-14T22:16:40Z) (edited): first reply, fixed\n\n"
            "Kenji Sato (2023-11-14T22:18:20Z): second reply");
  EXPECT_EQ(d.meta.to_json(), R"({"author":"Ada","channel":"general","channel_id":"C1","has_files":false,)"
                              R"("participants":["Ada","Kenji Sato"],"reply_count":2,"thread":true})");
}

TEST(SlackThread, RepliesWithoutTheirParentSayItIsMissing) {
  const slack::directory dir = acme();
  slack::thread t;
  t.root_ts = "1700000000.000100";
  t.add(
      read(
          R"({"user":"U2","ts":"1700000300.000000","thread_ts":"1700000000.000100","files":[{"name":"a.txt"}]})",
          dir),
      true);
  const document d =
      slack::thread_document(std::move(t), {"C1", "general", "slack_export", "https://slack.com"});
  EXPECT_EQ(d.title, "#general: [thread whose parent message is missing] [file: a.txt]");
  EXPECT_EQ(d.text, "Kenji Sato (2023-11-14T22:18:20Z): [file: a.txt]");
  EXPECT_EQ(d.meta.to_json(),
            R"({"author":"Kenji Sato","channel":"general","channel_id":"C1","has_files":true,)"
            R"("parent_missing":true,"participants":["Kenji Sato"],"reply_count":1,"thread":true})");
}

TEST(SlackTs, ParsesAndFormats) {
  EXPECT_EQ(slack::parse_ts("1700000000.000100"), 1700000000000100);
  EXPECT_EQ(slack::parse_ts("1700000000"), 1700000000000000);
  EXPECT_EQ(slack::parse_ts("1.5"), 1500000);
  EXPECT_EQ(slack::parse_ts("1.1234567"), 1123456);
  EXPECT_FALSE(slack::parse_ts("").has_value());
  EXPECT_FALSE(slack::parse_ts("abc").has_value());
  EXPECT_FALSE(slack::parse_ts("1.2x").has_value());
  EXPECT_FALSE(slack::parse_ts("1234567890123").has_value());
  EXPECT_EQ(slack::iso_utc(0), "1970-01-01T00:00:00Z");
  EXPECT_EQ(slack::iso_utc(-1), "1969-12-31T23:59:59Z");
  EXPECT_EQ(slack::iso_utc(951782400000000), "2000-02-29T00:00:00Z");
}
