#include "backfill/journal/journal.hpp"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <set>

#include "backfill/core/errors.hpp"

namespace fs = std::filesystem;
using backfill::journal;

namespace {
fs::path temp_dir(const std::string& name) {
  fs::path p = fs::temp_directory_path() / ("backfill-journal-" + name + "-" + std::to_string(::getpid()));
  fs::remove_all(p);
  fs::create_directories(p);
  return p;
}
}  // namespace

TEST(Journal, SanitizeKeepsSafeNamesAndEncodesTheRest) {
  EXPECT_EQ(journal::sanitize_component("C024BE91L"), "C024BE91L");
  EXPECT_EQ(journal::sanitize_component("my-proj_1.x"), "my-proj_1.x");
  EXPECT_EQ(journal::sanitize_component(".."), "%2E.");
  EXPECT_EQ(journal::sanitize_component("."), "%2E");
  EXPECT_EQ(journal::sanitize_component(""), "%00");
  EXPECT_EQ(journal::sanitize_component("a/b"), "a%2Fb");
  EXPECT_EQ(journal::sanitize_component("../../etc"), "%2E.%2F..%2Fetc");  // one component: "/" is encoded
  EXPECT_EQ(journal::sanitize_component("100%"), "100%25");
  EXPECT_EQ(journal::sanitize_component("東"), "%E6%9D%B1");
}

TEST(Journal, SanitizeIsInjectiveOnTrickyKeys) {
  std::set<std::string> out;
  std::vector<std::string> keys = {"a/b", "a%2Fb", "a_b", "a.b", ".a", "%2Ea", "A", "a", "", "%00"};
  for (const auto& k : keys) out.insert(journal::sanitize_component(k));
  EXPECT_EQ(out.size(), keys.size());
}

TEST(Journal, LongNamesAreShortenedWithAHash) {
  std::string a(500, 'x'), b(500, 'x');
  b.back() = 'y';
  auto sa = journal::sanitize_component(a), sb = journal::sanitize_component(b);
  EXPECT_LE(sa.size(), 160u);
  EXPECT_NE(sa, sb);
}

TEST(Journal, PagesStayInsideTheRoot) {
  auto root = temp_dir("inside");
  journal j(root / "journal");
  auto p = j.write_page("../src", "../../x", 3, "[1,2]");
  auto canon = fs::weakly_canonical(p);
  auto jroot = fs::weakly_canonical(root / "journal");
  EXPECT_EQ(canon.string().rfind(jroot.string(), 0), 0u) << canon;
  EXPECT_EQ(p.filename(), "00000003.json.zst");
  std::string body;
  j.read_page(p, body);
  EXPECT_EQ(body, "[1,2]");
  EXPECT_GE(body.capacity(), body.size() + 64);
  fs::remove_all(root);
}

TEST(Journal, WriteReplacesAtomicallyAndLeavesNoTempFiles) {
  auto root = temp_dir("atomic");
  journal j(root);
  auto p = j.write_page("s", "p", 0, "first");
  j.write_page("s", "p", 0, "second, longer");
  std::string body;
  j.read_page(p, body);
  EXPECT_EQ(body, "second, longer");
  int files = 0;
  for (auto& e : fs::directory_iterator(p.parent_path())) {
    ++files;
    EXPECT_EQ(e.path().extension(), ".zst");
  }
  EXPECT_EQ(files, 1);
  j.clear_partition("s", "p");
  EXPECT_FALSE(fs::exists(p));
  fs::remove_all(root);
}

TEST(Journal, MissingPageIsAJournalErrorNamingTheFile) {
  auto root = temp_dir("missing");
  journal j(root);
  std::string body;
  try {
    j.read_page(root / "nope.json", body);
    FAIL() << "expected journal_error";
  } catch (const backfill::journal_error& e) {
    EXPECT_NE(std::string(e.what()).find("nope.json"), std::string::npos);
    EXPECT_NE(e.path().find("nope.json"), std::string::npos);
  }
  fs::remove_all(root);
}

namespace {
std::string file_bytes(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}
}  // namespace

TEST(Journal, PagesAreStoredAsZstdFramesAndReadBackAsWritten) {
  auto root = temp_dir("zstd");
  journal j(root);
  std::string body = "[";
  for (int i = 0; i < 500; ++i)
    body += R"({"key":"PROJ-)" + std::to_string(i) + R"(","fields":{"summary":"a summary"}},)";
  body.back() = ']';
  auto p = j.write_page("jira", "PROJ", 0, body);
  const std::string stored = file_bytes(p);
  ASSERT_GE(stored.size(), 4u);
  EXPECT_EQ(static_cast<unsigned char>(stored[0]), 0x28);  // zstd's magic number
  EXPECT_LT(stored.size() * 5, body.size());
  std::string back;
  j.read_page(p, back);
  EXPECT_EQ(back, body);
  EXPECT_GE(back.capacity(), back.size() + 64);
  fs::remove_all(root);
}

TEST(Journal, ABufferReadingPagesOfOneSourceGrowsOnceForPagesAFewPerCentApart) {
  // Each growth of a page-sized buffer is a fresh mapping, faulted in page by page.
  auto root = temp_dir("grow");
  journal j(root);
  auto page_of = [](int items) {
    std::string body = "[";
    for (int i = 0; i < items; ++i) body += R"({"key":"PROJ-)" + std::to_string(i) + R"(","n":0},)";
    body.back() = ']';
    return body;
  };
  const std::string first = page_of(20000), larger = page_of(22000);  // ~10 % apart
  auto p1 = j.write_page("jira", "PROJ", 0, first);
  auto p2 = j.write_page("jira", "PROJ", 1, larger);
  std::string buffer;
  j.read_page(p1, buffer);
  ASSERT_EQ(buffer, first);
  const char* memory = buffer.data();
  j.read_page(p2, buffer);
  EXPECT_EQ(buffer, larger);
  EXPECT_EQ(buffer.data(), memory) << "the buffer grew again for a page 10 % larger";
  fs::remove_all(root);
}

TEST(Journal, AnUncompressedPageOfAnOlderJournalReadsAsItIs) {
  auto root = temp_dir("old");
  journal j(root);
  fs::create_directories(root / "jira" / "PROJ");
  const fs::path old = root / "jira" / "PROJ" / "00000000.json";
  std::ofstream(old, std::ios::binary) << R"([{"key":"PROJ-1"}])";
  std::string body;
  j.read_page(old, body);
  EXPECT_EQ(body, R"([{"key":"PROJ-1"}])");
  EXPECT_GE(body.capacity(), body.size() + 64);
  fs::remove_all(root);
}

TEST(Journal, ATruncatedFrameIsAJournalErrorNamingTheFile) {
  auto root = temp_dir("truncated");
  journal j(root);
  auto p = j.write_page("s", "p", 0, std::string(4000, 'x') + "[1,2,3]");
  fs::resize_file(p, fs::file_size(p) / 2);
  std::string body;
  try {
    j.read_page(p, body);
    FAIL() << "expected journal_error";
  } catch (const backfill::journal_error& e) {
    EXPECT_NE(std::string(e.what()).find(p.filename().string()), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("zstd"), std::string::npos) << e.what();
  }
  fs::remove_all(root);
}

TEST(Journal, APageWrittenInPartsReadsBackAsTheJoinedBody) {
  auto root = temp_dir("parts");
  journal j(root);
  std::string search = "[";
  for (int i = 0; i < 300; ++i) search += R"({"key":"PROJ-)" + std::to_string(i) + R"("},)";
  search.back() = ']';
  const std::string_view parts[] = {R"({"search":)", search, R"(,"comments":{}})"};
  auto p = j.write_page("jira", "PROJ", 0, std::span<const std::string_view>(parts));
  std::string joined = std::string(parts[0]) + search + std::string(parts[2]);
  std::string back;
  j.read_page(p, back);
  EXPECT_EQ(back, joined);
  EXPECT_GE(back.capacity(), back.size() + 64);
  EXPECT_LT(file_bytes(p).size() * 4, joined.size());
  // A second part cut short is damage too, not a shorter page.
  fs::resize_file(p, fs::file_size(p) - 3);
  EXPECT_THROW(j.read_page(p, back), backfill::journal_error);
  fs::remove_all(root);
}

TEST(Journal, BytesAfterThePagesFramesAreAJournalError) {
  auto root = temp_dir("trailing");
  journal j(root);
  auto p = j.write_page("s", "p", 0, std::string("[1,2,3]"));
  std::ofstream(p, std::ios::binary | std::ios::app) << "[4]";
  std::string body;
  try {
    j.read_page(p, body);
    FAIL() << "expected journal_error";
  } catch (const backfill::journal_error& e) {
    EXPECT_NE(std::string(e.what()).find("trailing bytes"), std::string::npos) << e.what();
  }
  fs::remove_all(root);
}
