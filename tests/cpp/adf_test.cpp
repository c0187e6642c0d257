// Tests of ADF (Atlassian Document Format) to text: the project's fixtures (tests/python/adf_fixtures,
// one per node family) rendered to the exact text, and the rules behind them on small documents.
#include "backfill/sources/jira/adf.hpp"

#include <gtest/gtest.h>
#include <simdjson.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <system_error>

#include "backfill/core/errors.hpp"

namespace fs = std::filesystem;
using backfill::adf_to_text;

namespace {

// tests/python/adf_fixtures: next to this file when __FILE__ is absolute, else above the directory the
// test runs in (CTest runs it inside the build tree, which sits in the source tree).
fs::path find_fixtures() {
  const fs::path rel = fs::path("tests") / "python" / "adf_fixtures";
  const fs::path here(__FILE__);
  if (here.is_absolute()) return here.parent_path().parent_path() / "python" / "adf_fixtures";
  std::error_code ec;
  for (fs::path dir = fs::current_path(ec); !dir.empty(); dir = dir.parent_path()) {
    if (fs::is_directory(dir / rel, ec)) return dir / rel;
    if (dir == dir.root_path()) break;
  }
  return rel;
}

const fs::path fixtures = find_fixtures();

std::string read(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

// A doc whose content is `blocks` (JSON text of the block nodes).
std::string doc(const std::string& blocks) {
  return R"({"type":"doc","version":1,"content":[)" + blocks + "]}";
}

std::string paragraph(const std::string& inline_nodes) {
  return R"({"type":"paragraph","content":[)" + inline_nodes + "]}";
}

std::string text(const std::string& t) { return R"({"type":"text","text":")" + t + R"("})"; }

// The whole text of every fixture: what a reader of the document sees.
const std::map<std::string, std::string> expected = {
    {"block_card", "Status page:\nhttps://status.example.com/incidents/314"},
    {"blockquote", "> The customer wrote: charged twice\nOur answer."},
    {"bullet_list", "- first item\n- second item\n  - nested item\n- third item"},
    {"code_block", "Run this:\ndef retry(invoice):\n    return queue.put(invoice)\nThen check."},
    {"empty_doc", ""},
    {"expand", "Root cause\nA lock on the ledger table.\ncell text More details hidden in a cell"},
    {"headings", "Incident 42 — Zusammenfassung\nIntro paragraph.\nTimeline (UTC)\nAfter the heading."},
    {"inline_nodes",
     "Line one\nline two\nPing @Олег Петров please.\nShipped 🎉\nCareful :warning:\n"
     "Related: https://acme.atlassian.net/browse/SUBS-7\nDue 2024-06-01\nState: [BLOCKED]"},
    {"media",
     "Screenshot:\n[media: grafana-p99.png]\n[media: server.log] [media: heap.hprof]\nAfter the media."},
    {"ordered_list", "1. Drain the node\n2. Fail over the primary\n3. Verify replication"},
    {"panel", "[warning] Do not restart the primary during a billing run."},
    {"paragraph_marks",
     "Plain, bold and italic, SELECT 1, gone, under, rot, H2O.\n"
     "See the runbook (https://wiki.example.com/runbooks/failover) or ask (mailto:oncall@example.com)."},
    {"rule", "Above the line.\n---\nBelow the line."},
    {"table", "Step | Owner | État\nFailover | @Zoë Ångström | fait\nReconcile | 山田 太郎 | à faire"},
    {"tasks_decisions",
     "[ ] Write the postmortem\n[x] Page the on-call\nDecision: We add an idempotency key"},
    {"unknown_nodes",
     "left column\nright column\ninside an unknown block\nbefore inside an unknown inline after\nthe end"},
};

}  // namespace

TEST(Adf, EveryFixtureRendersToItsText) {
  ASSERT_TRUE(fs::is_directory(fixtures)) << fixtures;
  std::size_t seen = 0;
  for (const auto& entry : fs::directory_iterator(fixtures)) {
    if (entry.path().extension() != ".json") continue;
    const std::string name = entry.path().stem().string();
    auto want = expected.find(name);
    ASSERT_NE(want, expected.end()) << "no expected text for the fixture " << name;
    EXPECT_EQ(adf_to_text(std::string_view(read(entry.path()))), want->second) << name;
    ++seen;
  }
  EXPECT_EQ(seen, expected.size());
}

TEST(Adf, ParsedElementRendersLikeText) {
  const std::string json = read(fixtures / "table.json");
  simdjson::dom::parser parser;
  simdjson::dom::element root;
  ASSERT_EQ(parser.parse(json).get(root), simdjson::SUCCESS);
  EXPECT_EQ(adf_to_text(root), expected.at("table"));
}

TEST(Adf, ParagraphsAreLinesAndHardBreaksAreNewlines) {
  EXPECT_EQ(adf_to_text(doc(paragraph(text("one")) + "," +
                            paragraph(text("two") + R"(,{"type":"hardBreak"},)" + text("three")))),
            "one\ntwo\nthree");
}

TEST(Adf, LinkMarksAddTheirUrlUnlessItIsTheText) {
  const std::string linked = R"({"type":"text","text":"docs","marks":[{"type":"strong"},)"
                             R"({"type":"link","attrs":{"href":"https://d.example"}}]})";
  const std::string bare = R"({"type":"text","text":"https://d.example","marks":[)"
                           R"({"type":"link","attrs":{"href":"https://d.example"}}]})";
  EXPECT_EQ(adf_to_text(doc(paragraph(linked))), "docs (https://d.example)");
  EXPECT_EQ(adf_to_text(doc(paragraph(bare))), "https://d.example");
}

TEST(Adf, FormattingMarksLeaveTheTextAsIs) {
  const std::string marked = R"({"type":"text","text":"x","marks":[{"type":"em"},{"type":"code"},)"
                             R"({"type":"textColor","attrs":{"color":"#ff0000"}}]})";
  EXPECT_EQ(adf_to_text(doc(paragraph(text("a ") + "," + marked))), "a x");
}

TEST(Adf, OrderedListsStartAtTheirOrderAndNestedListsIndent) {
  const std::string item3 = R"({"type":"listItem","content":[)" + paragraph(text("third")) + "]}";
  const std::string nested = R"({"type":"orderedList","content":[{"type":"listItem","content":[)" +
                             paragraph(text("inner")) + "]}]}";
  const std::string item4 =
      R"({"type":"listItem","content":[)" + paragraph(text("fourth")) + "," + nested + "]}";
  EXPECT_EQ(adf_to_text(
                doc(R"({"type":"orderedList","attrs":{"order":3},"content":[)" + item3 + "," + item4 + "]}")),
            "3. third\n4. fourth\n   1. inner");
}

TEST(Adf, TableCellsJoinTheirLinesAndRowsAreLines) {
  const std::string cell =
      R"({"type":"tableCell","content":[)" + paragraph(text("a")) + "," + paragraph(text("b")) + "]}";
  const std::string other = R"({"type":"tableHeader","content":[)" + paragraph(text("c")) + "]}";
  const std::string row = R"({"type":"tableRow","content":[)" + cell + "," + other + "]}";
  EXPECT_EQ(adf_to_text(
                doc(paragraph(text("before")) + R"(,{"type":"table","content":[)" + row + "," + row + "]}")),
            "before\na b | c\na b | c");
}

TEST(Adf, CodeBlocksKeepTheirLinesAndIndentation) {
  const std::string code = R"({"type":"codeBlock","attrs":{"language":"sql"},"content":[)" +
                           text(R"(SELECT *\n  FROM t\n WHERE x)") + "]}";
  EXPECT_EQ(adf_to_text(doc(paragraph(text("run:")) + "," + code)), "run:\nSELECT *\n  FROM t\n WHERE x");
}

TEST(Adf, MentionsShowTheirTextOrReadAsSomeone) {
  EXPECT_EQ(
      adf_to_text(doc(paragraph(text("ask ") + R"(,{"type":"mention","attrs":{"id":"5b1","text":"@Ann"}})"))),
      "ask @Ann");
  EXPECT_EQ(adf_to_text(doc(paragraph(text("ask ") + R"(,{"type":"mention","attrs":{"id":"5b1"}})"))),
            "ask @someone");
}

TEST(Adf, InlineNodesWithoutTheirTextFallBack) {
  EXPECT_EQ(adf_to_text(doc(paragraph(R"({"type":"emoji","attrs":{"shortName":":ok:"}})"))), ":ok:");
  EXPECT_EQ(adf_to_text(doc(paragraph(R"({"type":"date","attrs":{"timestamp":"0"}})"))), "1970-01-01");
  EXPECT_EQ(adf_to_text(doc(paragraph(R"({"type":"media","attrs":{"id":"m-1"}})"))), "[media]");
}

TEST(Adf, SmartLinksWithJsonLdDataShowTheirName) {
  const std::string data = R"({"@type":"Document","generator":{"@type":"Application","name":"Confluence"},)"
                           R"("url":"https://wiki.example/p/7","name":"Q3 plan","summary":"What we ship."})";
  EXPECT_EQ(
      adf_to_text(doc(paragraph(text("see") + R"(,{"type":"inlineCard","attrs":{"data":)" + data + "}}"))),
      "see Q3 plan (https://wiki.example/p/7)");
  EXPECT_EQ(adf_to_text(doc(R"({"type":"blockCard","attrs":{"data":)" + data + "}}")),
            "Confluence: Q3 plan\nWhat we ship.\nhttps://wiki.example/p/7");
  EXPECT_EQ(adf_to_text(doc(R"({"type":"blockCard","attrs":{"data":{"url":"https://x.example/1"}}})")),
            "https://x.example/1");
}

TEST(Adf, InlineChipsStandApartFromTheWordsAround) {
  const std::string card = R"({"type":"inlineCard","attrs":{"url":"https://a.example"}})";
  const std::string mention = R"({"type":"mention","attrs":{"id":"1","text":"@this"}})";
  const std::string status = R"({"type":"status","attrs":{"text":"DONE","color":"green"}})";
  EXPECT_EQ(adf_to_text(doc(paragraph(text("Read") + "," + card + "," + text("first.")))),
            "Read https://a.example first.");
  EXPECT_EQ(adf_to_text(doc(paragraph(mention + "," + text("is Sparta")))), "@this is Sparta");
  EXPECT_EQ(adf_to_text(doc(paragraph(text("state") + "," + status + "," + text(", next")))),
            "state [DONE], next");
}

TEST(Adf, LinkTargetsFollowTheWordTheLinkEndsIn) {
  const std::string link =
      R"({"type":"text","text":"link","marks":[{"type":"link","attrs":{"href":"https://l.example"}}]})";
  EXPECT_EQ(adf_to_text(doc(paragraph(text("italic") + "," + link + "," + text("strike-through words")))),
            "italiclinkstrike-through (https://l.example) words");
  EXPECT_EQ(adf_to_text(doc(paragraph(text("ask ") + "," + link + "," + text(".")))),
            "ask link (https://l.example).");
}

TEST(Adf, MediaNeverShowItsServiceIdAndInlineFilesKeepTheirName) {
  EXPECT_EQ(
      adf_to_text(doc(R"({"type":"mediaGroup","content":[{"type":"media","attrs":{"id":"5556346b-b081",)"
                      R"("type":"file","collection":"c"}}]})")),
      "[media]");
  EXPECT_EQ(adf_to_text(doc(R"({"type":"mediaSingle","content":[{"type":"media","attrs":{"type":"external",)"
                            R"("url":"https://img.example/a.png"}}]})")),
            "[media: https://img.example/a.png]");
  EXPECT_EQ(adf_to_text(doc(paragraph(text("Spec:") +
                                      R"(,{"type":"mediaInline","attrs":{"id":"6e7c-11",)"
                                      R"("type":"file","alt":"requirements.pdf"}},)" +
                                      text(" please review")))),
            "Spec: requirements.pdf please review");
}

TEST(Adf, PlaceholdersAreNeverText) {
  EXPECT_EQ(
      adf_to_text(doc(paragraph(text("a ") + R"(,{"type":"placeholder","attrs":{"text":"Type here"}})"))),
      "a");
}

TEST(Adf, UnknownBlockNodesEndTheirLine) {
  EXPECT_EQ(adf_to_text(doc(R"({"type":"codBlock","content":[)" + text("odd block") + "]}," +
                            R"({"type":"heading","attrs":{"level":3},"content":[)" + text("next") + "]}")),
            "odd block\nnext");
  EXPECT_EQ(adf_to_text(doc(paragraph(text("and ") + R"(,{"type":"team-mention","attrs":{"text":"@team"}},)" +
                                      text(" more")))),
            "and @team more");
}

TEST(Adf, NumericDateTimestampsRenderAsADate) {
  EXPECT_EQ(adf_to_text(doc(paragraph(R"({"type":"date","attrs":{"timestamp":1582152559000}})"))),
            "2020-02-19");
}

TEST(Adf, CodeBlocksInTableCellsKeepTheirLines) {
  const std::string code = R"({"type":"tableCell","content":[{"type":"codeBlock","content":[)" +
                           text(R"(if (x) {\n  go();\n})") + "]}]}";
  const std::string cell = R"({"type":"tableCell","content":[)" + paragraph(text("left")) + "]}";
  EXPECT_EQ(adf_to_text(doc(R"({"type":"table","content":[{"type":"tableRow","content":[)" + cell + "," +
                            code + "]}]}")),
            "left | if (x) {\n  go();\n}");
}

TEST(Adf, NumberedTablesShowTheirRowNumbers) {
  auto cell = [](const char* kind, const std::string& t) {
    return std::string(R"({"type":")") + kind + R"(","content":[)" + paragraph(text(t)) + "]}";
  };
  const std::string head =
      R"({"type":"tableRow","content":[)" + cell("tableHeader", "a") + "," + cell("tableHeader", "b") + "]}";
  const std::string row1 =
      R"({"type":"tableRow","content":[)" + cell("tableCell", "c") + "," + cell("tableCell", "d") + "]}";
  EXPECT_EQ(adf_to_text(doc(R"({"type":"table","attrs":{"isNumberColumnEnabled":true},"content":[)" + head +
                            "," + row1 + "," + row1 + "]}")),
            "a | b\n1 | c | d\n2 | c | d");
}

TEST(Adf, NestedTaskListsKeepTheirDepth) {
  auto task = [](const std::string& t) {
    return R"({"type":"taskItem","attrs":{"state":"TODO"},"content":[)" + text(t) + "]}";
  };
  const std::string inner = R"({"type":"taskList","content":[)" + task("inner") + "]}";
  EXPECT_EQ(adf_to_text(doc(R"({"type":"taskList","content":[)" + task("outer") + "," +
                            R"({"type":"taskList","content":[)" + task("middle") + "," + inner + "]}," +
                            task("last") + "]}")),
            "[ ] outer\n  [ ] middle\n    [ ] inner\n[ ] last");
}

TEST(Adf, HereAndAllMentionsReadAsSuch) {
  EXPECT_EQ(adf_to_text(doc(
                paragraph(R"({"type":"mention","attrs":{"id":"here","text":"@here"}},)" + text(" look")))),
            "@here look");
  EXPECT_EQ(adf_to_text(doc(paragraph(R"({"type":"mention","attrs":{"id":"all","text":"@abcd"}})"))),
            "@all (@abcd)");
}

TEST(Adf, BlockquotesPrefixEveryLine) {
  EXPECT_EQ(adf_to_text(doc(R"({"type":"blockquote","content":[)" + paragraph(text("a")) + "," +
                            paragraph(text("b")) + "]}")),
            "> a\n> b");
}

TEST(Adf, UnknownNodesAreDescendedInto) {
  EXPECT_EQ(
      adf_to_text(doc(
          R"({"type":"brandNew","attrs":{"x":1},"content":[)" +
          paragraph(text("deep") + R"(,{"type":"mystery","content":[)" + text(" and deeper") + "]}") + "]}")),
      "deep and deeper");
}

TEST(Adf, WhitespaceIsTidied) {
  // At most one blank line in a row, no spaces before a line end, none around the whole text.
  EXPECT_EQ(adf_to_text(doc(paragraph(text(R"(\n\na  \n\n\n\nb \n)")))), "a\n\nb");
}

TEST(Adf, EmptyAndNullGiveNoText) {
  EXPECT_EQ(adf_to_text(std::string_view("null")), "");
  EXPECT_EQ(adf_to_text(std::string_view(R"({"type":"doc","version":1})")), "");
  EXPECT_EQ(adf_to_text(doc(R"({"type":"paragraph"})")), "");
}

TEST(Adf, InvalidJsonIsASourceError) {
  EXPECT_THROW(adf_to_text(std::string_view("{not json")), backfill::source_error);
}
