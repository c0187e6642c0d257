#include "backfill/sinks/local/local_index.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "backfill/core/errors.hpp"
#include "backfill/ledger/sqlite.hpp"

namespace fs = std::filesystem;
using backfill::fetched_record;
using backfill::local_index;
using backfill::record;

namespace {

class LocalIndexTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    dir_ = fs::temp_directory_path() /
           ("backfill-local-index-" + std::to_string(::getpid()) + "-" + info->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
  fs::path file() const { return dir_ / "index.sqlite"; }

  fs::path dir_;
};

record make(std::string id, std::vector<float> values, std::string meta = "{}") {
  return record{std::move(id), std::move(values), std::move(meta)};
}

bool same_bits(const std::vector<float>& a, const std::vector<float>& b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i)
    if (std::bit_cast<std::uint32_t>(a[i]) != std::bit_cast<std::uint32_t>(b[i])) return false;
  return true;
}

std::vector<std::string> list_all(local_index& idx, std::string_view prefix, std::size_t page) {
  std::vector<std::string> out;
  std::string after;
  for (int guard = 0; guard < 100000; ++guard) {
    auto ids = idx.list(prefix, after, page);
    EXPECT_LE(ids.size(), page);
    if (ids.empty()) break;
    for (auto& id : ids) out.push_back(id);
    after = ids.back();
  }
  return out;
}

double cosine(const std::vector<float>& a, const std::vector<float>& b) {
  double dot = 0, na = 0, nb = 0;
  for (std::size_t i = 0; i < a.size(); ++i) {
    dot += static_cast<double>(a[i]) * b[i];
    na += static_cast<double>(a[i]) * a[i];
    nb += static_cast<double>(b[i]) * b[i];
  }
  if (na == 0 || nb == 0) return 0;
  return std::clamp(dot / (std::sqrt(na) * std::sqrt(nb)), -1.0, 1.0);
}

}  // namespace

TEST_F(LocalIndexTest, UpsertFetchRoundTripIsExact) {
  local_index idx(file());
  const std::vector<float> tricky = {0.1f,
                                     -0.0f,
                                     std::numeric_limits<float>::denorm_min(),
                                     std::numeric_limits<float>::max(),
                                     -std::numeric_limits<float>::lowest() / 3,
                                     1.0f / 3.0f,
                                     std::nextafter(1.0f, 2.0f),
                                     -123456.789f};
  const std::string meta = R"({"author":"Zoë","n":3,"tags":["a","東京"],"ok":true})";
  EXPECT_EQ(
      idx.upsert({make("jira:SUBS-1#0", tricky, meta), make("jira:SUBS-1#1", {1, 2, 3, 4, 5, 6, 7, 8})}), 2);

  auto got = idx.fetch({"missing", "jira:SUBS-1#1", "jira:SUBS-1#0", "jira:SUBS-1#1"});
  ASSERT_EQ(got.size(), 2u);  // absent ids are skipped, duplicates collapse, caller's order kept
  EXPECT_EQ(got[0].id, "jira:SUBS-1#1");
  EXPECT_EQ(got[1].id, "jira:SUBS-1#0");
  EXPECT_TRUE(same_bits(got[1].values, tricky));
  EXPECT_EQ(got[1].metadata_json, meta);
  EXPECT_EQ(got[0].metadata_json, "{}");
  EXPECT_TRUE(same_bits(got[0].values, {1, 2, 3, 4, 5, 6, 7, 8}));

  EXPECT_TRUE(idx.fetch({}).empty());
  EXPECT_EQ(idx.upsert({}), 0);
}

TEST_F(LocalIndexTest, StoresLittleEndianFloat32Blobs) {
  {
    local_index idx(file(), "ns");
    idx.upsert({make("a", {1.0f, -2.5f})});
  }
  backfill::sql::database db(file(), "test");
  auto st = db.prepare("SELECT dim, vector, metadata FROM vectors WHERE namespace = 'ns' AND id = 'a'");
  ASSERT_TRUE(st.step());
  EXPECT_EQ(st.column_int(0), 2);
  const std::string blob(st.column_blob(1));
  EXPECT_EQ(blob, std::string("\x00\x00\x80\x3f\x00\x00\x20\xc0", 8));
  EXPECT_EQ(st.column_string(2), "{}");
}

TEST_F(LocalIndexTest, FetchManyIdsAcrossStatementChunks) {
  local_index idx(file());
  std::vector<record> recs;
  std::vector<std::string> ids;
  for (int i = 0; i < 1234; ++i) {
    recs.push_back(make("doc:" + std::to_string(i), {static_cast<float>(i), 1.0f}));
    ids.push_back("doc:" + std::to_string(i));
  }
  EXPECT_EQ(idx.upsert(recs), 1234);
  ids.push_back("doc:none");
  auto got = idx.fetch(ids);
  ASSERT_EQ(got.size(), 1234u);
  for (int i = 0; i < 1234; ++i) {
    EXPECT_EQ(got[i].id, "doc:" + std::to_string(i));
    EXPECT_EQ(got[i].values[0], static_cast<float>(i));
  }
}

TEST_F(LocalIndexTest, NamespacesAreIsolated) {
  local_index a(file(), "alpha");
  local_index b(file(), "beta");
  local_index d(file());
  a.upsert({make("x", {1, 0, 0}, R"({"ns":"alpha"})"), make("y", {0, 1, 0})});
  b.upsert({make("x", {0, 0, 1, 0, 0}, R"({"ns":"beta"})")});  // another namespace, another dimension

  EXPECT_EQ(a.stats().count, 2);
  EXPECT_EQ(a.stats().dimension, 3);
  EXPECT_EQ(b.stats().count, 1);
  EXPECT_EQ(b.stats().dimension, 5);
  EXPECT_EQ(d.stats().count, 0);

  EXPECT_EQ(a.fetch({"x"}).at(0).metadata_json, R"({"ns":"alpha"})");
  EXPECT_EQ(b.fetch({"x"}).at(0).metadata_json, R"({"ns":"beta"})");
  EXPECT_TRUE(b.fetch({"y"}).empty());
  EXPECT_EQ(b.list("", "", 10), std::vector<std::string>{"x"});
  EXPECT_EQ(b.query({0, 0, 1, 0, 0}, 10).size(), 1u);

  b.remove({"x", "y"});
  EXPECT_EQ(b.stats().count, 0);
  EXPECT_EQ(a.stats().count, 2);

  auto ns = a.namespaces();
  ASSERT_EQ(ns.size(), 1u);
  EXPECT_EQ(ns[0].first, "alpha");
  EXPECT_EQ(ns[0].second, 2);
  b.upsert({make("z", {1, 2})});
  d.upsert({make("z", {1, 2, 3, 4})});
  ns = d.namespaces();
  ASSERT_EQ(ns.size(), 3u);
  EXPECT_EQ(ns[0], (std::pair<std::string, std::int64_t>{"", 1}));
  EXPECT_EQ(ns[1], (std::pair<std::string, std::int64_t>{"alpha", 2}));
  EXPECT_EQ(ns[2], (std::pair<std::string, std::int64_t>{"beta", 1}));
}

TEST_F(LocalIndexTest, ReupsertReplacesAndKeepsCount) {
  local_index idx(file());
  idx.upsert({make("a", {1, 1}, R"({"v":1})"), make("b", {2, 2})});
  EXPECT_EQ(idx.upsert({make("a", {3, 4}, R"({"v":2})")}), 1);
  EXPECT_EQ(idx.stats().count, 2);
  auto got = idx.fetch({"a"});
  ASSERT_EQ(got.size(), 1u);
  EXPECT_TRUE(same_bits(got[0].values, {3, 4}));
  EXPECT_EQ(got[0].metadata_json, R"({"v":2})");
  // The same id twice in one batch: the last one wins, both writes are acknowledged.
  EXPECT_EQ(idx.upsert({make("c", {1, 0}), make("c", {0, 1})}), 2);
  EXPECT_EQ(idx.stats().count, 3);
  EXPECT_TRUE(same_bits(idx.fetch({"c"}).at(0).values, {0, 1}));
}

TEST_F(LocalIndexTest, Remove) {
  local_index idx(file());
  idx.upsert({make("a", {1}), make("b", {2}), make("c", {3})});
  idx.remove({"a", "c", "never-existed"});
  EXPECT_EQ(idx.stats().count, 1);
  EXPECT_EQ(idx.list("", "", 10), std::vector<std::string>{"b"});
  EXPECT_TRUE(idx.fetch({"a", "c"}).empty());
  idx.remove({});
  EXPECT_EQ(idx.stats().count, 1);
}

TEST_F(LocalIndexTest, ListIsABytewisePrefixRangeNotLike) {
  local_index idx(file());
  const std::vector<std::string> ids = {"a",      "a%", "a%b", "a%c",   "a_b",   "aXb", "ab",  "A%b", "a%%",
                                        "a%\xff", "b",  "a&",  "a%b#0", "a%b#1", "A",   "a\t", "ab%", "aa"};
  std::vector<record> recs;
  for (const auto& id : ids) recs.push_back(make(id, {1, 2}));
  idx.upsert(recs);

  auto expect_prefix = [&](std::string_view prefix) {
    std::vector<std::string> want;
    for (const auto& id : ids)
      if (id.size() >= prefix.size() && id.compare(0, prefix.size(), prefix) == 0) want.push_back(id);
    std::sort(want.begin(), want.end());  // std::string compares bytewise (char_traits<char>::compare)
    EXPECT_EQ(idx.list(prefix, "", 1000), want) << "prefix " << prefix;
    EXPECT_EQ(list_all(idx, prefix, 1), want) << "prefix " << prefix;
    EXPECT_EQ(list_all(idx, prefix, 2), want) << "prefix " << prefix;
  };
  expect_prefix("a%");  // % is literal: not "a" followed by anything
  expect_prefix("a_");  // _ is literal: "aXb" and "ab" must not match
  expect_prefix("A");   // case-sensitive
  expect_prefix("a");
  expect_prefix("a%b");
  expect_prefix("");
  expect_prefix("zzz");
  expect_prefix("a%\xff");

  EXPECT_EQ(idx.list("a%", "", 2), (std::vector<std::string>{"a%", "a%%"}));
  EXPECT_EQ(idx.list("a%", "a%%", 2), (std::vector<std::string>{"a%b", "a%b#0"}));
  EXPECT_EQ(idx.list("a%", "a%b", 1), (std::vector<std::string>{"a%b#0"}));  // strictly after
  EXPECT_EQ(idx.list("a%", "a%\xff", 10), std::vector<std::string>{});
  EXPECT_EQ(idx.list("a%", "0", 1), (std::vector<std::string>{"a%"}));  // `after` before the range
  EXPECT_EQ(idx.list("a%", "zz", 10), std::vector<std::string>{});      // `after` beyond the range
  EXPECT_TRUE(idx.list("a", "", 0).empty());
}

TEST_F(LocalIndexTest, ListPaginatesThousands) {
  local_index idx(file());
  std::vector<record> recs;
  std::vector<std::string> want;
  for (int i = 0; i < 2500; ++i) {
    std::string id = "slack:C1:" + std::to_string(1700000000 + i * 7) + ".000100#" + std::to_string(i % 3);
    recs.push_back(make(id, {1}));
    want.push_back(id);
  }
  recs.push_back(make("slack:C2:1", {1}));
  recs.push_back(make("slack:C1", {1}));
  idx.upsert(recs);
  std::sort(want.begin(), want.end());
  EXPECT_EQ(list_all(idx, "slack:C1:", 97), want);
}

TEST_F(LocalIndexTest, Stats) {
  local_index idx(file(), "s");
  auto s = idx.stats();
  EXPECT_EQ(s.count, 0);
  EXPECT_EQ(s.dimension, 0);
  idx.upsert({make("a", {1, 2, 3}), make("b", {4, 5, 6})});
  s = idx.stats();
  EXPECT_EQ(s.count, 2);
  EXPECT_EQ(s.dimension, 3);
  idx.remove({"a", "b"});
  s = idx.stats();
  EXPECT_EQ(s.count, 0);
  EXPECT_EQ(s.dimension, 0);
  idx.upsert({make("c", {1, 2, 3, 4})});  // an emptied namespace takes a new dimension
  EXPECT_EQ(idx.stats().dimension, 4);
}

TEST_F(LocalIndexTest, RejectsBadRecordsAtomically) {
  local_index idx(file());
  idx.upsert({make("first", {1, 2, 3, 4})});
  try {
    idx.upsert({make("good", {1, 2, 3, 4}), make("jira:BAD-1#0", {1, 2, 3})});
    FAIL() << "expected sink_error";
  } catch (const backfill::sink_error& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("jira:BAD-1#0"), std::string::npos) << msg;
    EXPECT_NE(msg.find('3'), std::string::npos) << msg;
    EXPECT_NE(msg.find('4'), std::string::npos) << msg;
    EXPECT_NE(msg.find(file().string()), std::string::npos) << msg;
  }
  EXPECT_EQ(idx.stats().count, 1);  // nothing of the failed batch was written
  EXPECT_TRUE(idx.fetch({"good"}).empty());

  // Within one batch on an empty namespace, the first record sets the dimension.
  local_index other(file(), "other");
  EXPECT_THROW(other.upsert({make("a", {1, 2}), make("b", {1, 2, 3})}), backfill::sink_error);
  EXPECT_EQ(other.stats().count, 0);

  EXPECT_THROW(idx.upsert({make("", {1, 2, 3, 4})}), backfill::sink_error);
  EXPECT_THROW(idx.upsert({make("empty", {})}), backfill::sink_error);
  EXPECT_THROW(idx.upsert({make("nan", {1, std::nanf(""), 3, 4})}), backfill::sink_error);
  EXPECT_THROW(idx.upsert({make("inf", {1, std::numeric_limits<float>::infinity(), 3, 4})}),
               backfill::sink_error);
  EXPECT_EQ(idx.stats().count, 1);
}

TEST_F(LocalIndexTest, QueryMatchesBruteForce) {
  local_index idx(file(), "q");
  std::mt19937 rng(12345);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  const int dim = 24;
  std::vector<record> recs;
  for (int i = 0; i < 400; ++i) {
    std::vector<float> v(dim);
    if (i % 50 != 7)  // a few zero vectors
      for (auto& x : v) x = normal(rng);
    recs.push_back(make("v" + std::to_string(i), v, R"({"i":)" + std::to_string(i) + "}"));
  }
  idx.upsert(recs);

  auto reference = [&](const std::vector<float>& q) {
    std::vector<std::pair<double, std::string>> scored;
    for (const auto& r : recs) scored.emplace_back(cosine(q, r.values), r.id);
    std::sort(scored.begin(), scored.end(), [](const auto& a, const auto& b) {
      return a.first != b.first ? a.first > b.first : a.second < b.second;
    });
    return scored;
  };

  for (int trial = 0; trial < 5; ++trial) {
    std::vector<float> q(dim);
    for (auto& x : q) x = normal(rng);
    if (trial == 1) q = recs[123].values;  // an exact match must come first with score 1
    const auto want = reference(q);
    for (std::size_t k :
         {std::size_t{1}, std::size_t{10}, std::size_t{399}, std::size_t{400}, std::size_t{1000}}) {
      auto got = idx.query(q, k);
      ASSERT_EQ(got.size(), std::min<std::size_t>(k, recs.size()));
      for (std::size_t i = 0; i < got.size(); ++i) {
        EXPECT_EQ(got[i].id, want[i].second) << "trial " << trial << " k " << k << " rank " << i;
        EXPECT_NEAR(got[i].score, want[i].first, 1e-12);
        EXPECT_EQ(got[i].metadata_json, R"({"i":)" + got[i].id.substr(1) + "}");
      }
    }
    if (trial == 1) {
      auto best = idx.query(q, 1);
      EXPECT_EQ(best.at(0).id, "v123");
      EXPECT_NEAR(best.at(0).score, 1.0, 1e-6);
    }
  }

  // A zero query vector scores 0 against everything: ties ordered by id.
  auto zero = idx.query(std::vector<float>(dim, 0.0f), 3);
  ASSERT_EQ(zero.size(), 3u);
  EXPECT_EQ(zero[0].id, "v0");
  EXPECT_EQ(zero[1].id, "v1");
  EXPECT_EQ(zero[2].id, "v10");
  for (const auto& m : zero) EXPECT_EQ(m.score, 0.0);

  EXPECT_TRUE(idx.query(std::vector<float>(dim, 1.0f), 0).empty());
  EXPECT_THROW(idx.query(std::vector<float>(dim + 1, 1.0f), 5), backfill::sink_error);
  local_index empty(file(), "nothing-here");
  EXPECT_TRUE(empty.query(std::vector<float>(dim, 1.0f), 5).empty());
}

TEST_F(LocalIndexTest, ReopenPersists) {
  std::string identity;
  {
    local_index idx(file(), "p");
    idx.upsert({make("a", {0.25f, 0.5f}, R"({"k":"v"})")});
    identity = idx.identity();
  }
  local_index again(file(), "p");
  EXPECT_EQ(again.identity(), identity);
  auto got = again.fetch({"a"});
  ASSERT_EQ(got.size(), 1u);
  EXPECT_TRUE(same_bits(got[0].values, {0.25f, 0.5f}));
  EXPECT_EQ(got[0].metadata_json, R"({"k":"v"})");
  EXPECT_EQ(again.stats().count, 1);
  EXPECT_EQ(again.stats().dimension, 2);
}

// A record with its chunk's text in the metadata (a few KB) fits whole in a leaf of a new index's
// pages; a file made with SQLite's default 4 KB pages keeps them and still reads and writes.
TEST_F(LocalIndexTest, NewFilesGetLargePagesAndOldFilesKeepTheirs) {
  auto page_size = [](const fs::path& p) {
    backfill::sql::database db(p, "test");
    auto st = db.prepare("PRAGMA page_size");
    EXPECT_TRUE(st.step());
    return st.column_int(0);
  };
  const std::string text(3000, 'x');
  const std::string meta = R"({"text":")" + text + R"("})";
  {
    local_index idx(file(), "p");
    idx.upsert({make("a", std::vector<float>(64, 0.5f), meta)});
  }
  EXPECT_EQ(page_size(file()), 16384);

  const fs::path old = dir_ / "old.sqlite";
  {  // SQLite's default page size, in WAL mode
    backfill::sql::database db(old, "test");
    db.exec("CREATE TABLE other(x)");
  }
  ASSERT_EQ(page_size(old), 4096);
  {
    local_index idx(old, "p");
    idx.upsert(
        {make("a", std::vector<float>(64, 0.5f), meta), make("b", std::vector<float>(64, 1.0f), "{}")});
  }
  EXPECT_EQ(page_size(old), 4096);
  local_index again(old, "p");
  auto got = again.fetch({"a"});
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].metadata_json, meta);
  EXPECT_EQ(again.stats().count, 2);
}

TEST_F(LocalIndexTest, RefusesNewerSchema) {
  { local_index idx(file()); }
  {
    backfill::sql::database db(file(), "test");
    db.exec("UPDATE meta SET value = '2' WHERE key = 'schema_version'");
  }
  try {
    local_index idx(file());
    FAIL() << "expected sink_error";
  } catch (const backfill::sink_error& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find(file().string()), std::string::npos) << msg;
    EXPECT_NE(msg.find("schema version 2"), std::string::npos) << msg;
  }
}

TEST_F(LocalIndexTest, CreatesParentsAndNamesItself) {
  const fs::path nested = dir_ / "deep" / "er" / "idx.sqlite";
  local_index idx(nested, "team-a");
  EXPECT_TRUE(fs::exists(nested));
  EXPECT_EQ(idx.kind(), "local");
  EXPECT_EQ(idx.identity(), "local:" + fs::absolute(nested).lexically_normal().string() + "#team-a");
  EXPECT_NE(idx.describe().find(nested.string()), std::string::npos);
  EXPECT_NE(idx.describe().find("team-a"), std::string::npos);

  // A relative path gives an absolute identity.
  const fs::path cwd = fs::current_path();
  fs::current_path(dir_);
  {
    local_index rel(fs::path("rel") / "x.sqlite");
    EXPECT_EQ(rel.identity(), "local:" + (dir_ / "rel" / "x.sqlite").lexically_normal().string() + "#");
  }
  fs::current_path(cwd);
}

TEST_F(LocalIndexTest, UnusablePathNamesThePath) {
  // The parent "directory" is a regular file.
  const fs::path blocker = dir_ / "blocker";
  {
    std::FILE* f = std::fopen(blocker.c_str(), "w");
    std::fclose(f);
  }
  try {
    local_index idx(blocker / "idx.sqlite");
    FAIL() << "expected an error";
  } catch (const backfill::error& e) {
    EXPECT_NE(std::string(e.what()).find((blocker / "idx.sqlite").string()), std::string::npos) << e.what();
  }
  // A file that is not a database is reported as a sink error.
  const fs::path garbage = dir_ / "garbage.sqlite";
  {
    std::FILE* f = std::fopen(garbage.c_str(), "w");
    std::fputs("this is definitely not a SQLite database, just some text that is long enough.....", f);
    std::fclose(f);
  }
  try {
    local_index idx(garbage);
    FAIL() << "expected an error";
  } catch (const backfill::sink_error& e) {
    EXPECT_NE(std::string(e.what()).find(garbage.string()), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("not a SQLite database"), std::string::npos) << e.what();
  }
  // An empty file is a valid empty database: it becomes an index.
  const fs::path empty = dir_ / "empty.sqlite";
  {
    std::FILE* f = std::fopen(empty.c_str(), "w");
    std::fclose(f);
  }
  local_index fresh(empty);
  EXPECT_EQ(fresh.stats().count, 0);
}
