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
      "Ada (2023-11-14T22:13:20Z) (edited): see @Kenji Sato\n[file: Server log (raw.log)]\n[file: plot.png]\n"
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

// ---- attachments, Block Kit, files, bots and DMs as Slack shows them -----------------------------

TEST(SlackRender, AttachmentKeepsPretextAuthorFieldsAndFooterInSlacksOrder) {
  const slack::directory dir = acme();
  const auto m = read(R"({"bot_id":"B9","subtype":"bot_message","ts":"1700000000.000100","text":"",
    "attachments":[{"pretext":"[api:main] <https://gh/c|2 new commits> by Ada:","author_name":"Ada Lovelace",
      "title":"Deploy #7","title_link":"https://ci/7","text":"rolled out to <!here>",
      "fields":[{"title":"Env","value":"prod","short":true},{"title":"Owner","value":"<@U2>"},{"value":"lone"}],
      "footer":"CI &amp; CD","color":"36a64f","callback_id":"cb-secret","fallback":"Deploy #7 done"}]})",
                      dir);
  EXPECT_EQ(m.text, "");
  ASSERT_EQ(m.extras.size(), 1u);
  EXPECT_EQ(m.extras[0],
            "[api:main] 2 new commits (https://gh/c) by Ada:\n"
            "[attachment: Ada Lovelace: Deploy #7: rolled out to @here https://ci/7\n"
            "Env: prod\nOwner: @Kenji Sato\nlone\nCI & CD]");
}

TEST(SlackRender, AttachmentWithOnlyPretextOrFieldsOrAnUnfurl) {
  const slack::directory dir = acme();
  const auto m = read(R"({"user":"U1","ts":"1700000000.000100","text":"look",
    "attachments":[{"pretext":"only the pretext","fallback":"only the pretext"},
                   {"fields":[{"title":"Status","value":"green"}],"fallback":"status green"},
                   {"service_name":"YouTube","author_name":"chris","title":"Intro to GA",
                    "title_link":"https://yt/v","fallback":"YouTube Video: Intro to GA","thumb_url":"https://i/x.jpg"},
                   {"actions":[{"type":"button","text":"Approve","value":"v-secret"},{"text":"Deny"}]}]})",
                      dir);
  ASSERT_EQ(m.extras.size(), 4u);
  EXPECT_EQ(m.extras[0], "only the pretext");
  EXPECT_EQ(m.extras[1], "[attachment: Status: green]");
  EXPECT_EQ(m.extras[2],
            "[attachment: YouTube: chris: Intro to GA: YouTube Video: Intro to GA https://yt/v]");
  EXPECT_EQ(m.extras[3], "[attachment: [Approve] [Deny]]");
}

TEST(SlackRender, BlocksReplaceTheFallbackText) {
  const slack::directory dir = acme();
  const auto m = read(R"({"bot_id":"B1","bot_profile":{"name":"Polly"},"ts":"1700000000.000100",
    "text":"New poll","blocks":[
      {"type":"header","block_id":"h1","text":{"type":"plain_text","text":"Lunch poll"}},
      {"type":"section","block_id":"s1","text":{"type":"mrkdwn","text":"*Where* shall we go, <!channel>?"},
       "accessory":{"type":"button","action_id":"a-secret","text":{"type":"plain_text","text":"Add option"}}},
      {"type":"section","fields":[{"type":"mrkdwn","text":"*Tacos*"},{"type":"plain_text","text":"3 votes"}]},
      {"type":"divider"},
      {"type":"context","elements":[{"type":"image","image_url":"https://i/a.png","alt_text":"Ada's avatar"},
                                    {"type":"mrkdwn","text":"Created by <@U1>"}]},
      {"type":"actions","elements":[{"type":"button","text":{"type":"plain_text","text":"Vote Tacos"},"value":"x"},
                                    {"type":"static_select","placeholder":{"type":"plain_text","text":"Pick"}}]},
      {"type":"image","image_url":"https://i/map.png","alt_text":"map of the area","title":{"type":"plain_text","text":"Map"}}
    ]})",
                      dir);
  EXPECT_EQ(m.author, "Polly (bot)");
  EXPECT_EQ(m.text,
            "Lunch poll\nWhere shall we go, @channel? [Add option]\nTacos\n3 votes\n"
            "[image: Ada's avatar] Created by @Ada\n[Vote Tacos]\n[image: Map: map of the area]");
}

TEST(SlackRender, RichTextListsQuotesCodeMentionsEmojiAndLinks) {
  const slack::directory dir = acme();
  const auto m = read(R"({"user":"U1","ts":"1700000000.000100","text":"fallback only","blocks":[
    {"type":"rich_text","elements":[
      {"type":"rich_text_section","elements":[{"type":"text","text":"Hi "},{"type":"user","user_id":"U2"},
        {"type":"text","text":" and "},{"type":"usergroup","usergroup_id":"S1"},{"type":"text","text":" in "},
        {"type":"channel","channel_id":"C1"},{"type":"text","text":" "},{"type":"broadcast","range":"here"},
        {"type":"text","text":" "},{"type":"emoji","name":"tada","unicode":"1f389"},{"type":"text","text":" see "},
        {"type":"link","url":"https://x.io/a","text":"the doc"},{"type":"text","text":" "},
        {"type":"link","url":"https://y.io"}]},
      {"type":"rich_text_list","style":"ordered","indent":0,"elements":[
        {"type":"rich_text_section","elements":[{"type":"text","text":"first"}]},
        {"type":"rich_text_section","elements":[{"type":"text","text":"second"}]}]},
      {"type":"rich_text_list","style":"bullet","indent":1,"elements":[
        {"type":"rich_text_section","elements":[{"type":"text","text":"nested"}]}]},
      {"type":"rich_text_quote","elements":[{"type":"text","text":"quoted\ntwice"}]},
      {"type":"rich_text_preformatted","elements":[{"type":"text","text":"make test"}]},
      {"type":"rich_text_section","elements":[{"type":"text","text":"bye"}]}]}]})",
                      dir);
  EXPECT_EQ(m.text,
            "Hi @Kenji Sato and @S1 in #general @here :tada: see the doc (https://x.io/a) https://y.io\n"
            "1. first\n2. second\n  - nested\n> quoted\n> twice\nmake test\nbye");
}

TEST(SlackRender, BlocksThatShowNothingLeaveTheText) {
  const slack::directory dir = acme();
  const auto m = read(
      R"({"user":"U1","ts":"1","text":"plain <@U2>","blocks":[{"type":"divider"},{"type":"file"}]})", dir);
  EXPECT_EQ(m.text, "plain @Kenji Sato");
}

TEST(SlackRender, AttachmentBlocksAreTheCardsText) {
  const slack::directory dir = acme();
  const auto m = read(R"({"user":"U1","ts":"1","text":"",
    "attachments":[{"color":"#f00","blocks":[{"type":"section","text":{"type":"mrkdwn","text":"Build failed"}}]}]})",
                      dir);
  ASSERT_EQ(m.extras.size(), 1u);
  EXPECT_EQ(m.extras[0], "[attachment: Build failed]");
}

TEST(SlackRender, SnippetKeepsTitleNameAndPreviewLinesButNoUrls) {
  const slack::directory dir = acme();
  const auto m = read(R"({"user":"U1","ts":"1","text":"",
    "files":[{"id":"F1","name":"cities.js","title":"Cities","mode":"snippet",
      "url_private":"https://files.slack.com/x.js?t=xoxe-1","permalink":"https://acme/files/F1",
      "preview":"{\r\n  \"Holmesville\": [31.7, -82.3],\r\n\r\n  \"Jatipasir\": [-8.2, 113.9],"}]})",
                      dir);
  EXPECT_TRUE(m.has_files);
  ASSERT_EQ(m.extras.size(), 1u);
  EXPECT_EQ(
      m.extras[0],
      "[file: Cities (cities.js)]\n{\n  \"Holmesville\": [31.7, -82.3],\n  \"Jatipasir\": [-8.2, 113.9],");
}

TEST(SlackDirectory, BotsAreNamedByTheirProfileOrBotsList) {
  slack::directory dir;
  simdjson::dom::parser parser;
  simdjson::dom::element list;
  const char* json = R"([
    {"id":"U7","name":"deploybot","is_bot":true,"profile":{"real_name":"Deploy Bot","bot_id":"B7"}},
    {"id":"B8","name":"GitHub","deleted":false}
  ])";
  ASSERT_EQ(parser.parse(json, std::strlen(json)).get(list), simdjson::SUCCESS);
  for (simdjson::dom::element e : list.get_array()) dir.add(e.get_object());
  EXPECT_EQ(read(R"({"subtype":"bot_message","bot_id":"B7","ts":"1"})", dir).author, "Deploy Bot (bot)");
  EXPECT_EQ(read(R"({"subtype":"bot_message","bot_id":"B8","ts":"1"})", dir).author, "GitHub (bot)");
  EXPECT_EQ(read(R"({"subtype":"bot_message","bot_id":"B9","ts":"1"})", dir).author, "B9 (bot)");
  EXPECT_EQ(dir.channel("B8"), nullptr);
}

TEST(SlackDirectory, DirectMessagesAreTitledByTheirMembers) {
  slack::directory dir = acme();
  simdjson::dom::parser parser;
  simdjson::dom::element list;
  const char* json = R"([
    {"id":"D1","created":1690000000,"members":["U1","U2"]},
    {"id":"G2","name":"mpdm-ada--kenji--zoe-1","is_mpim":true,"members":["U1","U2","U9"]},
    {"id":"D3","is_im":true,"user":"U2"}
  ])";
  ASSERT_EQ(parser.parse(json, std::strlen(json)).get(list), simdjson::SUCCESS);
  for (simdjson::dom::element e : list.get_array()) dir.add(e.get_object());
  EXPECT_EQ(dir.title("D1"), "Ada, Kenji Sato");
  EXPECT_EQ(dir.title("G2"), "Ada, Kenji Sato, U9");
  EXPECT_EQ(dir.title("D3"), "Kenji Sato");
  EXPECT_EQ(dir.title("C1"), "#general");
  EXPECT_EQ(dir.title("C9"), "#C9");
  EXPECT_TRUE(dir.direct("G2"));
  EXPECT_FALSE(dir.direct("C1"));
  slack::thread t;
  t.root_ts = "1700000000.000100";
  t.add(read(R"({"user":"U1","ts":"1700000000.000100","text":"psst"})", dir), false);
  const std::string title = dir.title("D1");
  const document d =
      slack::thread_document(std::move(t), {"D1", title, "slack", "https://acme.slack.com", true});
  EXPECT_EQ(d.title, "Ada, Kenji Sato: psst");
}

TEST(SlackRender, MrkdwnFormattingMarksAreHiddenAsSlackHidesThem) {
  const slack::directory dir = acme();
  EXPECT_EQ(slack::render_text("*bold* _it_ ~gone~ `a_b*c` *bold _and it_*, <@U2>", dir),
            "bold it gone a_b*c bold and it, @Kenji Sato");
  EXPECT_EQ(slack::render_text("run:\n```make *all*\nmake test```\ndone", dir),
            "run:\nmake *all*\nmake test\ndone");
  // Marks inside words, unpaired, across lines or inside links are text.
  EXPECT_EQ(slack::render_text("snake_case_name 2*3*4 *nix and *bsd a *b\nc* :white_check_mark:", dir),
            "snake_case_name 2*3*4 *nix and *bsd a *b\nc* :white_check_mark:");
  EXPECT_EQ(slack::render_text("_see <https://x.io/a_b_|the_doc>_ **", dir),
            "see the_doc (https://x.io/a_b_) **");
}
