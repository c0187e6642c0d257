// Tests of the Slack export source: folder and zip input, planning, paging with cursors, item ids,
// and normalization of threads into documents.
#include "backfill/sources/slack_export/slack_export.hpp"

#include <gtest/gtest.h>
#include <zip.h>

#include <stdlib.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <functional>
#include <list>
#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "backfill/core/errors.hpp"

namespace fs = std::filesystem;
using backfill::document;
using backfill::partition_plan;
using backfill::run_context;
using backfill::slack_export_options;
using backfill::slack_export_source;

namespace {

using file_map = std::map<std::string, std::string>;  // relative path -> content

class temp_dir {
 public:
  temp_dir() {
    std::string tmpl = (fs::temp_directory_path() / "slack_export_test_XXXXXX").string();
    char* made = ::mkdtemp(tmpl.data());
    if (!made) throw std::runtime_error("mkdtemp failed");
    path_ = made;
  }
  ~temp_dir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  temp_dir(const temp_dir&) = delete;
  temp_dir& operator=(const temp_dir&) = delete;
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

void write_folder(const fs::path& root, const file_map& files) {
  for (const auto& [rel, content] : files) {
    const fs::path p = root / rel;
    fs::create_directories(p.parent_path());
    std::ofstream out(p, std::ios::binary);
    out << content;
  }
}

void write_zip(const fs::path& zip_path, const file_map& files, const std::string& prefix = "") {
  int code = 0;
  zip_t* za = zip_open(zip_path.c_str(), ZIP_CREATE | ZIP_TRUNCATE, &code);
  ASSERT_NE(za, nullptr) << "zip_open failed: " << code;
  for (const auto& [rel, content] : files) {
    zip_source_t* src = zip_source_buffer(za, content.data(), content.size(), 0);
    ASSERT_NE(src, nullptr);
    const std::string name = prefix + rel;
    ASSERT_GE(zip_file_add(za, name.c_str(), src, ZIP_FL_OVERWRITE | ZIP_FL_ENC_UTF_8), 0)
        << zip_strerror(za);
  }
  ASSERT_EQ(zip_close(za), 0);
}

// users.json and channels.json/groups.json/dms.json shared by most tests.
file_map base_export() {
  file_map f;
  f["users.json"] = R"([
    {"id":"U1","name":"ada","real_name":"Ada Q","profile":{"display_name":"Ada Quill","real_name":"Ada Quill"}},
    {"id":"U2","name":"bo","real_name":"Bo","profile":{"display_name":"","real_name":"Bo Lindqvist"}},
    {"id":"U3","name":"chen","real_name":"Chen Wirth","profile":{"display_name":""}},
    {"id":"U4","name":"dmitri","profile":{}},
    {"id":"U5","profile":{}},
    {"id":"U6","name":"jürgen","profile":{"display_name":"Jürgen Ölmann"}},
    {"id":"UBOT","name":"deploybot","is_bot":true,"profile":{"real_name":"Deploy Bot"}}
  ])";
  f["channels.json"] = R"([
    {"id":"C1","name":"general","created":1690000000,"members":["U1","U2"]},
    {"id":"C2","name":"engineering","created":1690000000},
    {"id":"C3","name":"no-folder","created":1690000000}
  ])";
  f["groups.json"] = R"([{"id":"G1","name":"secret-ops","created":1690000000}])";
  f["dms.json"] = R"([{"id":"D1","created":1690000000,"members":["U1","U2"]}])";
  f["integration_logs.json"] = "[]";
  return f;
}

std::string msg(std::string_view user, std::string_view ts, std::string_view text,
                std::string_view extra = "") {
  std::string m = R"({"type":"message","user":")" + std::string(user) + R"(","ts":")" + std::string(ts) +
                  R"(","text":")" + std::string(text) + "\"";
  if (!extra.empty()) m += "," + std::string(extra);
  return m + "}";
}

std::string day(std::initializer_list<std::string> messages) {
  std::string out = "[";
  bool first = true;
  for (const auto& m : messages) {
    if (!first) out += ",\n";
    first = false;
    out += m;
  }
  return out + "]";
}

struct fetched_page {
  std::string body;
  std::int64_t items;
  std::string next;
};

class recording_sink final : public backfill::page_sink {
 public:
  void page(std::string_view body, std::int64_t items, std::string_view next_cursor,
            std::string_view) override {
    pages.push_back({std::string(body), items, std::string(next_cursor)});
  }
  std::vector<fetched_page> pages;
};

// The journal, in memory: pages per partition, with simdjson padding like the real journal.
class memory_pages final : public backfill::page_reader {
 public:
  void add(const std::string& partition, const std::string& body) {
    std::string padded;
    padded.reserve(body.size() + 64);
    padded.assign(body);
    pages_[partition].push_back(std::move(padded));
  }
  void for_each(
      const std::function<void(std::int64_t, const std::string&, const std::string&)>& fn) override {
    ++passes;
    iterate(current, fn);
  }
  void for_each_in(
      std::string_view partition,
      const std::function<void(std::int64_t, const std::string&, const std::string&)>& fn) override {
    iterate(std::string(partition), fn);
  }

  std::string current;  // the partition for_each reads
  int passes = 0;       // for_each calls so far
  std::int64_t seq_in_progress = -1;

 private:
  void iterate(const std::string& partition,
               const std::function<void(std::int64_t, const std::string&, const std::string&)>& fn) {
    auto it = pages_.find(partition);
    if (it == pages_.end()) return;
    for (std::size_t i = 0; i < it->second.size(); ++i) {
      const auto seq = static_cast<std::int64_t>(i);
      seq_in_progress = seq;
      fn(seq, it->second[i], "journal/slack_export/" + partition + "/" + std::to_string(i) + ".json");
    }
    seq_in_progress = -1;
  }
  std::map<std::string, std::vector<std::string>> pages_;
};

slack_export_options options_for(const fs::path& p) {
  slack_export_options o;
  o.path = p;
  o.workspace_url = "https://acme.slack.com/";
  return o;
}

std::vector<fetched_page> fetch_all(slack_export_source& src, const std::string& partition,
                                    std::string_view cursor = "") {
  run_context ctx;
  recording_sink sink;
  partition_plan p;
  p.name = partition;
  src.fetch(p, cursor, sink, ctx);
  return sink.pages;
}

// Fetches the workspace and `partition` into memory, then normalizes `partition`.
std::vector<document> normalize(slack_export_source& src, const std::string& partition) {
  memory_pages pages;
  for (const auto& pg : fetch_all(src, slack_export_source::workspace_partition))
    pages.add(slack_export_source::workspace_partition, pg.body);
  for (const auto& pg : fetch_all(src, partition)) pages.add(partition, pg.body);
  pages.current = partition;
  std::vector<document> docs;
  run_context ctx;
  src.normalize(
      partition, pages, [&](document&& d) { docs.push_back(std::move(d)); }, ctx);
  return docs;
}

std::vector<document> normalize_folder(const file_map& files, const std::string& partition,
                                       slack_export_options* opts = nullptr) {
  temp_dir dir;
  write_folder(dir.path(), files);
  slack_export_options o = opts ? *opts : options_for(dir.path());
  o.path = dir.path();
  slack_export_source src(o);
  return normalize(src, partition);
}

const document* find_doc(const std::vector<document>& docs, std::string_view id) {
  for (const auto& d : docs)
    if (d.id == id) return &d;
  return nullptr;
}

template <typename T>
T meta(const document& d, std::string_view key) {
  const auto* v = d.meta.get(key);
  if (!v) throw std::runtime_error("no metadata field " + std::string(key));
  return std::get<T>(*v);
}

// ---- plan ---------------------------------------------------------------------------------------

TEST(SlackExport, PlanListsWorkspaceThenConversationsWithLabelsAndPageCounts) {
  temp_dir dir;
  file_map f = base_export();
  f["general/2023-11-14.json"] = day({msg("U1", "1699999999.000100", "hi")});
  f["general/2023-11-15.json"] = day({msg("U1", "1700086400.000100", "hi")});
  f["general/notes.txt"] = "not a day file";
  f["general/2023-11-15.json.bak"] = "[]";
  f["engineering/2023-11-14.json"] = day({msg("U2", "1699999999.000200", "x")});
  f["secret-ops/2023-11-14.json"] = "[]";
  f["D1/2023-11-14.json"] = day({msg("U1", "1699999999.000300", "psst")});
  write_folder(dir.path(), f);

  slack_export_source src(options_for(dir.path()));
  EXPECT_EQ(src.kind(), "slack_export");
  EXPECT_NE(src.describe().find(dir.path().string()), std::string::npos);
  run_context ctx;
  const auto plans = src.plan(ctx);
  ASSERT_EQ(plans.size(), 6u);
  EXPECT_EQ(plans[0].name, "_workspace");
  EXPECT_EQ(plans[0].estimated_pages, 4);  // users, channels, groups, dms (no mpims.json)
  const std::vector<std::pair<std::string, std::string>> expected = {
      {"C1", "#general"},
      {"C2", "#engineering"},
      {"C3", "#no-folder"},
      {"G1", "#secret-ops"},
      {"D1", "Ada Quill, Bo Lindqvist"}};  // a DM: its members, as Slack's sidebar names it
  const std::vector<std::int64_t> pages = {2, 1, 0, 1, 1};
  for (std::size_t i = 0; i < expected.size(); ++i) {
    EXPECT_EQ(plans[i + 1].name, expected[i].first);
    EXPECT_EQ(plans[i + 1].label, expected[i].second);
    EXPECT_EQ(plans[i + 1].estimated_pages, pages[i]) << expected[i].first;
  }
}

// ---- fetch --------------------------------------------------------------------------------------

file_map three_days() {
  file_map f = base_export();
  f["general/2023-11-16.json"] =
      day({msg("U1", "1700170000.000100", "third"), msg("U2", "1700170001.000100", "3b")});
  f["general/2023-11-14.json"] = day({msg("U1", "1699999999.000100", "first")});
  f["general/2023-11-15.json"] =
      day({msg("U1", "1700086400.000100", "second"), msg("U2", "1700086401.000100", "2b"),
           msg("U3", "1700086402.000100", "2c")});
  return f;
}

void check_three_days(slack_export_source& src, const file_map& f) {
  const auto pages = fetch_all(src, "C1");
  ASSERT_EQ(pages.size(), 3u);
  EXPECT_EQ(pages[0].body, f.at("general/2023-11-14.json"));  // raw and unchanged
  EXPECT_EQ(pages[1].body, f.at("general/2023-11-15.json"));
  EXPECT_EQ(pages[2].body, f.at("general/2023-11-16.json"));
  EXPECT_EQ(pages[0].items, 1);
  EXPECT_EQ(pages[1].items, 3);
  EXPECT_EQ(pages[2].items, 2);
  EXPECT_EQ(pages[0].next, "2023-11-15.json");
  EXPECT_EQ(pages[1].next, "2023-11-16.json");
  EXPECT_EQ(pages[2].next, "");

  // Resuming from a cursor starts at that day.
  const auto resumed = fetch_all(src, "C1", "2023-11-15.json");
  ASSERT_EQ(resumed.size(), 2u);
  EXPECT_EQ(resumed[0].body, f.at("general/2023-11-15.json"));
  EXPECT_EQ(resumed[1].next, "");
  EXPECT_TRUE(fetch_all(src, "C3").empty());  // listed, no folder

  const auto ws = fetch_all(src, "_workspace");
  ASSERT_EQ(ws.size(), 4u);
  EXPECT_EQ(ws[0].body, f.at("users.json"));
  EXPECT_EQ(ws[0].items, 7);
  EXPECT_EQ(ws[0].next, "channels.json");
  EXPECT_EQ(ws[1].body, f.at("channels.json"));
  EXPECT_EQ(ws[1].items, 3);
  EXPECT_EQ(ws[1].next, "groups.json");
  EXPECT_EQ(ws[2].next, "dms.json");
  EXPECT_EQ(ws[3].body, f.at("dms.json"));
  EXPECT_EQ(ws[3].next, "");
  const auto ws_resumed = fetch_all(src, "_workspace", "groups.json");
  ASSERT_EQ(ws_resumed.size(), 2u);
  EXPECT_EQ(ws_resumed[0].body, f.at("groups.json"));
}

TEST(SlackExport, FetchFolderYieldsDayFilesInOrderWithCursorsAndResumes) {
  temp_dir dir;
  const file_map f = three_days();
  write_folder(dir.path(), f);
  slack_export_source src(options_for(dir.path()));
  check_three_days(src, f);
}

TEST(SlackExport, FetchZipYieldsTheSameAsTheFolder) {
  temp_dir dir;
  const file_map f = three_days();
  write_zip(dir.path() / "export.zip", f);
  slack_export_source src(options_for(dir.path() / "export.zip"));
  EXPECT_NE(src.describe().find("export.zip"), std::string::npos);
  run_context ctx;
  const auto plans = src.plan(ctx);
  ASSERT_EQ(plans.size(), 6u);
  EXPECT_EQ(plans[1].estimated_pages, 3);
  check_three_days(src, f);
}

TEST(SlackExport, ZipWithEverythingInsideOneFolderIsRead) {
  temp_dir dir;
  const file_map f = three_days();
  write_zip(dir.path() / "rezipped.zip", f, "Acme Slack export/");
  slack_export_source src(options_for(dir.path() / "rezipped.zip"));
  check_three_days(src, f);
}

// The estimate reads every day file: the plan's progress names each conversation as it starts, with
// the ones before it done.
TEST(SlackExport, TheEstimateCountsEachConversationInThePlansProgress) {
  temp_dir dir;
  write_folder(dir.path(), three_days());
  slack_export_source src(options_for(dir.path()));
  run_context plain;
  auto plans = src.plan(plain);
  std::vector<std::pair<std::string, std::int64_t>> steps;
  run_context ctx(
      [&](const backfill::progress& p) {
        if (steps.empty() || steps.back().first != p.partition) steps.emplace_back(p.partition, p.done);
        return false;
      },
      std::chrono::milliseconds(0));
  ctx.begin_phase("plan", "partitions", static_cast<std::int64_t>(plans.size()));
  src.estimate(plans, ctx);
  ASSERT_EQ(steps.size(), plans.size() + 1);  // "" as the pass begins
  for (std::size_t i = 0; i < plans.size(); ++i) {
    EXPECT_EQ(steps[i + 1].first, plans[i].label.empty() ? plans[i].name : plans[i].label);
    EXPECT_EQ(steps[i + 1].second, static_cast<std::int64_t>(i));
  }
}

TEST(SlackExport, FetchChecksCancellationBeforeEachPage) {
  temp_dir dir;
  write_folder(dir.path(), three_days());
  slack_export_source src(options_for(dir.path()));
  int ticks = 0;
  run_context counting([&](const backfill::progress&) { return ++ticks < 0; }, std::chrono::milliseconds(0));
  recording_sink sink;
  partition_plan p;
  p.name = "C1";
  src.fetch(p, "", sink, counting);
  EXPECT_EQ(sink.pages.size(), 3u);
  EXPECT_GE(ticks, 3);

  run_context stopped;
  stopped.request_stop();
  recording_sink none;
  EXPECT_THROW(src.fetch(p, "", none, stopped), backfill::cancelled);
  EXPECT_TRUE(none.pages.empty());
}

// ---- page_items ---------------------------------------------------------------------------------

TEST(SlackExport, PageItemsYieldsOneIdPerMessage) {
  temp_dir dir;
  write_folder(dir.path(), three_days());
  slack_export_source src(options_for(dir.path()));
  const auto pages = fetch_all(src, "C1");
  std::vector<std::string> ids;
  src.page_items("C1", pages[1].body, [&](std::string_view id) { ids.emplace_back(id); });
  EXPECT_EQ(ids, (std::vector<std::string>{"slack:C1:1700086400.000100", "slack:C1:1700086401.000100",
                                           "slack:C1:1700086402.000100"}));
  ids.clear();
  src.page_items("_workspace", fetch_all(src, "_workspace")[0].body,
                 [&](std::string_view id) { ids.emplace_back(id); });
  EXPECT_TRUE(ids.empty());

  EXPECT_THROW(src.page_items("C1", "[{\"ts\":", [](std::string_view) {}), backfill::source_error);
  EXPECT_THROW(src.page_items("C1", "{\"ts\":\"1\"}", [](std::string_view) {}), backfill::source_error);
}

// ---- normalize ----------------------------------------------------------------------------------

TEST(SlackExport, ThreadSpanningTwoDaysIsOneDocumentWithRepliesInOrder) {
  file_map f = base_export();
  const std::string root = "1699999999.000100";
  const std::string th = R"("thread_ts":"1699999999.000100")";
  f["general/2023-11-14.json"] = day({
      msg("U1", root, "How did we fix the database failover?\\nDetails below", th + R"(,"reply_count":3)"),
      msg("U2", "1700000100.000200", "Promoted the replica", th + R"(,"parent_user_id":"U1")"),
  });
  f["general/2023-11-15.json"] = day({
      // Out of order in the file and one duplicate: the document orders by ts and keeps one copy.
      msg("U4", "1700086500.000400", "And added a runbook", th),
      msg("U3", "1700086400.000300", "Then repointed the app", th),
      msg("U3", "1700086400.000300", "Then repointed the app", th),
      msg("U1", "1700086600.000000", "unrelated lone message"),
  });
  const auto docs = normalize_folder(f, "C1");
  ASSERT_EQ(docs.size(), 2u);
  const document* d = find_doc(docs, "slack:C1:" + root);
  ASSERT_NE(d, nullptr);
  EXPECT_EQ(d->source, "slack_export");
  EXPECT_EQ(d->partition, "C1");
  EXPECT_EQ(d->title, "#general: How did we fix the database failover?");
  EXPECT_EQ(d->text,
            "Ada Quill (2023-11-14T22:13:19Z): How did we fix the database failover?\nDetails below\n\n"
            "Bo Lindqvist (2023-11-14T22:15:00Z): Promoted the replica\n\n"
            "Chen Wirth (2023-11-15T22:13:20Z): Then repointed the app\n\n"
            "dmitri (2023-11-15T22:15:00Z): And added a runbook");
  EXPECT_EQ(d->url, "https://acme.slack.com/archives/C1/p1699999999000100");
  EXPECT_EQ(d->created_at, "2023-11-14T22:13:19Z");
  EXPECT_EQ(d->updated_at, "2023-11-15T22:15:00Z");
  EXPECT_EQ(meta<std::string>(*d, "channel"), "general");
  EXPECT_EQ(meta<std::string>(*d, "channel_id"), "C1");
  EXPECT_EQ(meta<std::string>(*d, "author"), "Ada Quill");
  EXPECT_EQ(meta<std::vector<std::string>>(*d, "participants"),
            (std::vector<std::string>{"Ada Quill", "Bo Lindqvist", "Chen Wirth", "dmitri"}));
  EXPECT_EQ(meta<double>(*d, "reply_count"), 3.0);
  EXPECT_EQ(meta<bool>(*d, "thread"), true);
  EXPECT_EQ(meta<bool>(*d, "has_files"), false);
  EXPECT_EQ(d->meta.get("parent_missing"), nullptr);
}

TEST(SlackExport, LoneMessagesAreDocumentsOfTheirOwn) {
  file_map f = base_export();
  f["general/2023-11-14.json"] = day({
      msg("U5", "1699999999.000100", "first lone"),
      msg("U2", "1700000000.000200", "second lone", R"("thread_ts":"1700000000.000200","reply_count":0)"),
  });
  const auto docs = normalize_folder(f, "C1");
  ASSERT_EQ(docs.size(), 2u);
  EXPECT_EQ(docs[0].id, "slack:C1:1699999999.000100");
  EXPECT_EQ(docs[0].text, "U5 (2023-11-14T22:13:19Z): first lone");  // no name at all: the id
  EXPECT_EQ(docs[0].title, "#general: first lone");
  EXPECT_EQ(meta<bool>(docs[0], "thread"), false);
  EXPECT_EQ(meta<double>(docs[0], "reply_count"), 0.0);
  EXPECT_EQ(meta<std::vector<std::string>>(docs[0], "participants"), (std::vector<std::string>{"U5"}));
  EXPECT_EQ(docs[1].id, "slack:C1:1700000000.000200");
  EXPECT_EQ(meta<std::string>(docs[1], "author"), "Bo Lindqvist");
}

TEST(SlackExport, RepliesWithoutParentStillFormADocument) {
  file_map f = base_export();
  const std::string th = R"("thread_ts":"1699000000.000100")";
  f["general/2023-11-14.json"] = day({msg("U2", "1699999999.000300", "orphan one", th)});
  f["general/2023-11-15.json"] = day({msg("U3", "1700086400.000100", "orphan two", th)});
  const auto docs = normalize_folder(f, "C1");
  ASSERT_EQ(docs.size(), 1u);
  const document& d = docs[0];
  EXPECT_EQ(d.id, "slack:C1:1699000000.000100");
  EXPECT_NE(d.title.find("parent message is missing"), std::string::npos) << d.title;
  EXPECT_NE(d.title.find("orphan one"), std::string::npos) << d.title;
  EXPECT_EQ(d.created_at, "2023-11-03T08:26:40Z");
  EXPECT_EQ(
      d.text,
      "Bo Lindqvist (2023-11-14T22:13:19Z): orphan one\n\nChen Wirth (2023-11-15T22:13:20Z): orphan two");
  EXPECT_EQ(meta<double>(d, "reply_count"), 2.0);
  EXPECT_EQ(meta<bool>(d, "thread"), true);
  EXPECT_EQ(meta<bool>(d, "parent_missing"), true);
}

TEST(SlackExport, ThreadBroadcastCountsAsReply) {
  file_map f = base_export();
  const std::string th = R"("thread_ts":"1699999999.000100")";
  f["general/2023-11-14.json"] = day({
      msg("U1", "1699999999.000100", "root", th),
      msg("U2", "1700000000.000100", "also sent to channel", th + R"(,"subtype":"thread_broadcast")"),
  });
  const auto docs = normalize_folder(f, "C1");
  ASSERT_EQ(docs.size(), 1u);
  EXPECT_EQ(meta<double>(docs[0], "reply_count"), 1.0);
  EXPECT_NE(docs[0].text.find("also sent to channel"), std::string::npos);
}

TEST(SlackExport, MarkupIsRendered) {
  file_map f = base_export();
  f["general/2023-11-14.json"] =
      day({msg("U1", "1699999999.000100",
               "<!here> <@U2> and <@U3|chen> see <#C2|engineering> and <#C1> or <#C9|gone>: "
               "<https://runbook.example.com/db?a=1&amp;b=2|the runbook> and <https://status.example.com> "
               "&lt;3 &amp; <!channel> <!everyone> <@U99|ghost> <mailto:ops@example.com|ops@example.com>")});
  const auto docs = normalize_folder(f, "C1");
  ASSERT_EQ(docs.size(), 1u);
  EXPECT_EQ(
      docs[0].text,
      "Ada Quill (2023-11-14T22:13:19Z): @here @Bo Lindqvist and @Chen Wirth see #engineering and #general "
      "or #gone: the runbook (https://runbook.example.com/db?a=1&b=2) and https://status.example.com "
      "<3 & @channel @everyone @ghost ops@example.com");
}

TEST(SlackExport, BotMessagesNameTheBot) {
  file_map f = base_export();
  f["general/2023-11-14.json"] = day({
      R"({"type":"message","subtype":"bot_message","username":"deploybot","bot_id":"B1","text":"Deployed v1.2.3","ts":"1699999999.000100"})",
      R"({"type":"message","bot_id":"B2","user":"UBOT","bot_profile":{"name":"pagerbot"},"text":"Paged on-call","ts":"1700000000.000100"})",
  });
  const auto docs = normalize_folder(f, "C1");
  ASSERT_EQ(docs.size(), 2u);
  EXPECT_EQ(docs[0].text, "deploybot (bot) (2023-11-14T22:13:19Z): Deployed v1.2.3");
  EXPECT_EQ(meta<std::string>(docs[0], "author"), "deploybot (bot)");
  EXPECT_EQ(docs[1].text, "pagerbot (bot) (2023-11-14T22:13:20Z): Paged on-call");
}

TEST(SlackExport, EditedMessagesAreMarkedAndMoveUpdatedAt) {
  file_map f = base_export();
  f["general/2023-11-14.json"] = day({
      msg("U1", "1699999999.000100", "current text", R"("edited":{"user":"U1","ts":"1700100000.000000"})"),
  });
  const auto docs = normalize_folder(f, "C1");
  ASSERT_EQ(docs.size(), 1u);
  EXPECT_EQ(docs[0].text, "Ada Quill (2023-11-14T22:13:19Z) (edited): current text");
  EXPECT_EQ(docs[0].created_at, "2023-11-14T22:13:19Z");
  EXPECT_EQ(docs[0].updated_at, "2023-11-16T02:00:00Z");
}

TEST(SlackExport, FilesAndAttachmentsAreAppended) {
  file_map f = base_export();
  f["general/2023-11-14.json"] = day({
      msg("U1", "1699999999.000100", "postmortem attached",
          R"("files":[{"id":"F1","name":"pm.pdf","title":"Postmortem 2023-11","mimetype":"application/pdf"},)"
          R"({"id":"F2","name":"graph.png","mimetype":"image/png"}])"),
      msg("U2", "1700000000.000100", "",
          R"("attachments":[{"title":"Deploy #42","text":"all green","title_link":"https://ci.example.com/42"},)"
          R"({"fallback":"fallback only"}])"),
  });
  const auto docs = normalize_folder(f, "C1");
  ASSERT_EQ(docs.size(), 2u);
  EXPECT_EQ(docs[0].text,
            "Ada Quill (2023-11-14T22:13:19Z): postmortem attached\n[file: Postmortem 2023-11 "
            "(pm.pdf)]\n[file: graph.png]");
  EXPECT_EQ(meta<bool>(docs[0], "has_files"), true);
  EXPECT_EQ(
      docs[1].text,
      "Bo Lindqvist (2023-11-14T22:13:20Z): [attachment: Deploy #42: all green https://ci.example.com/42]\n"
      "[attachment: fallback only]");
  EXPECT_EQ(meta<bool>(docs[1], "has_files"), false);
  EXPECT_EQ(docs[1].title, "#general: [attachment: Deploy #42: all green https://ci.example.com/42]");
}

TEST(SlackExport, NonAsciiPassesThroughAndTitlesCutOnUtf8Boundaries) {
  file_map f = base_export();
  std::string long_line;
  for (int i = 0; i < 30; ++i) long_line += "東";  // 90 bytes
  f["general/2023-11-14.json"] = day({
      msg("U6", "1699999999.000100", "Grüße, 東京 🚀"),
      msg("U1", "1700000000.000100", long_line),
  });
  const auto docs = normalize_folder(f, "C1");
  ASSERT_EQ(docs.size(), 2u);
  EXPECT_EQ(docs[0].text, "Jürgen Ölmann (2023-11-14T22:13:19Z): Grüße, 東京 🚀");
  EXPECT_EQ(docs[0].title, "#general: Grüße, 東京 🚀");
  EXPECT_EQ(meta<std::string>(docs[0], "author"), "Jürgen Ölmann");
  // 80 bytes would cut the 27th character in half: the title stops after 26 whole ones.
  std::string expected;
  for (int i = 0; i < 26; ++i) expected += "東";
  EXPECT_EQ(docs[1].title, "#general: " + expected);
}

TEST(SlackExport, JsonEscapesDecodeToUtf8) {
  file_map f = base_export();
  f["general/2023-11-14.json"] =
      day({msg("U1", "1699999999.000100", R"(Gr\u00fc\u00dfe \u6771\u4eac \ud83d\ude80 \"quoted\")")});
  const auto docs = normalize_folder(f, "C1");
  ASSERT_EQ(docs.size(), 1u);
  EXPECT_EQ(docs[0].text, "Ada Quill (2023-11-14T22:13:19Z): Grüße 東京 🚀 \"quoted\"");
}

TEST(SlackExport, SkipSubtypesAreLeftOut) {
  file_map f = base_export();
  f["general/2023-11-14.json"] = day({
      msg("U3", "1699999999.000100", "<@U3> has joined the channel", R"("subtype":"channel_join")"),
      msg("U1", "1700000000.000100", "real content"),
      msg("U1", "1700000001.000100", "custom noise", R"("subtype":"reminder_add")"),
  });
  auto docs = normalize_folder(f, "C1");
  ASSERT_EQ(docs.size(), 2u);
  EXPECT_EQ(docs[0].id, "slack:C1:1700000000.000100");
  EXPECT_EQ(docs[1].id, "slack:C1:1700000001.000100");

  slack_export_options o;
  o.skip_subtypes = {"reminder_add"};
  docs = normalize_folder(f, "C1", &o);
  ASSERT_EQ(docs.size(), 2u);
  EXPECT_EQ(docs[0].id, "slack:C1:1699999999.000100");
  EXPECT_EQ(docs[1].id, "slack:C1:1700000000.000100");
  EXPECT_EQ(docs[1].url, "https://slack.com/archives/C1/p1700000000000100");  // default workspace url
}

TEST(SlackExport, WorkspacePartitionYieldsNoDocuments) {
  temp_dir dir;
  write_folder(dir.path(), three_days());
  slack_export_source src(options_for(dir.path()));
  EXPECT_TRUE(normalize(src, "_workspace").empty());
}

// Documents leave as soon as the pass is beyond their last page, so memory holds open threads only.
TEST(SlackExport, DocumentsAreEmittedOnceTheirLastPageIsPassed) {
  temp_dir dir;
  file_map f = base_export();
  const std::string th = R"("thread_ts":"1699999999.000100")";
  f["general/2023-11-14.json"] =
      day({msg("U1", "1699999999.000100", "root", th), msg("U2", "1699999999.000200", "lone")});
  f["general/2023-11-15.json"] = day({msg("U3", "1700086400.000100", "reply", th)});
  f["general/2023-11-16.json"] = day({msg("U4", "1700170000.000100", "later")});
  write_folder(dir.path(), f);
  slack_export_source src(options_for(dir.path()));

  memory_pages pages;
  for (const auto& pg : fetch_all(src, "_workspace")) pages.add("_workspace", pg.body);
  for (const auto& pg : fetch_all(src, "C1")) pages.add("C1", pg.body);
  pages.current = "C1";
  std::vector<std::pair<std::string, std::int64_t>> emitted;  // id, page being read at the time
  int ticks = 0;
  run_context ctx([&](const backfill::progress&) { return ++ticks < 0; }, std::chrono::milliseconds(0));
  src.normalize(
      "C1", pages,
      [&](document&& d) {
        EXPECT_EQ(pages.passes, 2);
        emitted.emplace_back(d.id, pages.seq_in_progress);
      },
      ctx);
  ASSERT_EQ(emitted.size(), 3u);
  EXPECT_EQ(emitted[0], std::make_pair(std::string("slack:C1:1699999999.000200"), std::int64_t{0}));
  EXPECT_EQ(emitted[1], std::make_pair(std::string("slack:C1:1699999999.000100"), std::int64_t{1}));
  EXPECT_EQ(emitted[2], std::make_pair(std::string("slack:C1:1700170000.000100"), std::int64_t{2}));
  EXPECT_GE(ticks, 6);  // a checkpoint per page in both passes
}

TEST(SlackExport, ZipAndFolderNormalizeTheSame) {
  temp_dir dir;
  file_map f = three_days();
  write_zip(dir.path() / "e.zip", f);
  slack_export_source zipped(options_for(dir.path() / "e.zip"));
  const auto from_zip = normalize(zipped, "C1");
  const auto from_folder = normalize_folder(f, "C1");
  ASSERT_EQ(from_zip.size(), 6u);
  ASSERT_EQ(from_zip.size(), from_folder.size());
  for (std::size_t i = 0; i < from_zip.size(); ++i)
    EXPECT_EQ(from_zip[i].content_hash(), from_folder[i].content_hash());
}

// The demo export that examples/make_slack_export.py wrote into examples/slack-export.
TEST(SlackExport, DemoExportNormalizes) {
  const fs::path demo =
      fs::path(__FILE__).parent_path().parent_path().parent_path() / "examples" / "slack-export";
  if (!fs::is_directory(demo)) GTEST_SKIP() << "no demo export at " << demo;
  slack_export_source src(options_for(demo));
  run_context ctx;
  const auto plans = src.plan(ctx);
  ASSERT_GE(plans.size(), 6u);
  memory_pages pages;
  for (const auto& pg : fetch_all(src, "_workspace")) pages.add("_workspace", pg.body);
  std::size_t documents = 0, threads = 0, spanning = 0, bots = 0, failover_fixes = 0;
  for (const auto& plan : plans) {
    if (plan.name == "_workspace") continue;
    const auto fetched = fetch_all(src, plan.name);
    EXPECT_EQ(static_cast<std::int64_t>(fetched.size()), plan.estimated_pages) << plan.name;
    for (const auto& pg : fetched) pages.add(plan.name, pg.body);
    pages.current = plan.name;
    src.normalize(
        plan.name, pages,
        [&](document&& d) {
          ++documents;
          EXPECT_EQ(d.partition, plan.name);
          EXPECT_EQ(d.id.rfind("slack:" + plan.name + ":", 0), 0u) << d.id;
          EXPECT_FALSE(d.text.empty()) << d.id;
          if (meta<bool>(d, "thread")) ++threads;
          if (d.updated_at.substr(0, 10) != d.created_at.substr(0, 10) && meta<bool>(d, "thread")) ++spanning;
          if (d.text.find(" (bot) (") != std::string::npos) ++bots;
          if (d.text.find("etcd") != std::string::npos && d.text.find("failover") != std::string::npos)
            ++failover_fixes;
        },
        ctx);
  }
  EXPECT_GT(documents, 100u);
  EXPECT_GT(threads, 10u);
  EXPECT_GT(spanning, 0u);
  EXPECT_GT(bots, 0u);
  EXPECT_GT(failover_fixes, 0u);
}

// ---- errors -------------------------------------------------------------------------------------

TEST(SlackExport, RejectsPathsThatAreNeitherZipNorFolder) {
  temp_dir dir;
  write_folder(dir.path(), {{"notes.txt", "hello"}, {"broken.zip", "not a zip at all"}});
  try {
    slack_export_source src(options_for(dir.path() / "notes.txt"));
    FAIL() << "expected config_error";
  } catch (const backfill::config_error& e) {
    EXPECT_NE(std::string(e.what()).find("notes.txt"), std::string::npos) << e.what();
  }
  EXPECT_THROW({ slack_export_source s(options_for(dir.path() / "missing")); }, backfill::config_error);
  EXPECT_THROW({ slack_export_source s(options_for(dir.path() / "broken.zip")); }, backfill::config_error);
  EXPECT_THROW({ slack_export_source s(options_for(dir.path() / "notes.txt")); }, backfill::config_error);
}

TEST(SlackExport, MissingChannelsJsonIsASourceErrorNamingTheFile) {
  temp_dir dir;
  write_folder(dir.path(), {{"users.json", "[]"}, {"general/2023-11-14.json", "[]"}});
  slack_export_source src(options_for(dir.path()));
  run_context ctx;
  try {
    src.plan(ctx);
    FAIL() << "expected source_error";
  } catch (const backfill::source_error& e) {
    EXPECT_NE(std::string(e.what()).find("channels.json"), std::string::npos) << e.what();
  }
}

TEST(SlackExport, MalformedDayFileIsASourceErrorNamingTheFile) {
  for (const std::string& body : {std::string(R"({"not":"an array"})"), std::string("[{\"ts\": ")}) {
    temp_dir dir;
    file_map f = base_export();
    f["general/2023-11-14.json"] = day({msg("U1", "1699999999.000100", "fine")});
    f["general/2023-11-15.json"] = body;
    write_zip(dir.path() / "e.zip", f);
    slack_export_source src(options_for(dir.path() / "e.zip"));
    run_context ctx;
    recording_sink sink;
    partition_plan p;
    p.name = "C1";
    try {
      src.fetch(p, "", sink, ctx);
      FAIL() << "expected source_error for " << body;
    } catch (const backfill::source_error& e) {
      EXPECT_NE(std::string(e.what()).find("general/2023-11-15.json"), std::string::npos) << e.what();
    }
    EXPECT_EQ(sink.pages.size(), 1u);  // the good page before it was delivered

    memory_pages pages;
    pages.add("C1", body);
    pages.current = "C1";
    EXPECT_THROW(src.normalize(
                     "C1", pages, [](document&&) {}, ctx),
                 backfill::source_error);
  }
}

TEST(SlackExport, UnknownPartitionAndBadCursorAreErrors) {
  temp_dir dir;
  write_folder(dir.path(), three_days());
  slack_export_source src(options_for(dir.path()));
  EXPECT_THROW(fetch_all(src, "C404"), backfill::source_error);
  EXPECT_THROW(fetch_all(src, "C1", "../../etc/passwd"), backfill::source_error);
  EXPECT_THROW(fetch_all(src, "_workspace", "secrets.json"), backfill::source_error);
}

}  // namespace

TEST(SlackExport, DirectMessagesAreTitledByMembersAndBotsByBotsJson) {
  file_map f = base_export();
  f["mpims.json"] =
      R"([{"id":"G7","name":"mpdm-ada--bo--chen-1","is_mpim":true,"members":["U1","U2","U3"]}])";
  f["bots.json"] = R"([{"id":"B5","name":"GitHub"}])";
  f["D1/2023-11-14.json"] = day({msg("U1", "1699999999.000300", "psst")});
  f["mpdm-ada--bo--chen-1/2023-11-14.json"] = day(
      {R"({"type":"message","subtype":"bot_message","bot_id":"B5","ts":"1699999999.000400","text":"PR merged"})"});
  const auto dm = normalize_folder(f, "D1");
  ASSERT_EQ(dm.size(), 1u);
  EXPECT_EQ(dm[0].title, "Ada Quill, Bo Lindqvist: psst");
  EXPECT_EQ(meta<std::string>(dm[0], "channel"), "Ada Quill, Bo Lindqvist");
  const auto group = normalize_folder(f, "G7");
  ASSERT_EQ(group.size(), 1u);
  EXPECT_EQ(group[0].title, "Ada Quill, Bo Lindqvist, Chen Wirth: PR merged");
  EXPECT_EQ(group[0].text, "GitHub (bot) (2023-11-14T22:13:19Z): PR merged");
}
