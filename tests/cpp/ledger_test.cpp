// The ledger on real SQLite files: partitions and cursors, pages and their hashes, documents and
// chunks per sink, tombstones, the embedding cache, and what survives reopening the file.
#include "backfill/ledger/ledger.hpp"

#include <gtest/gtest.h>
#include <sqlite3.h>

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "backfill/core/errors.hpp"
#include "scratch_dir.hpp"

namespace fs = std::filesystem;
using namespace backfill;

namespace {

class Ledger : public scratch_ledger_test {
 protected:
  static page_row page(const std::string& partition, std::int64_t seq, std::int64_t items = 2) {
    page_row p;
    p.source = "jira";
    p.partition = partition;
    p.seq = seq;
    p.path = "journal/jira/" + partition + "/" + std::to_string(seq) + ".json";
    p.hash = "hash-" + std::to_string(seq);
    p.items = items;
    p.bytes = 100 + seq;
    return p;
  }
  void commit(const std::string& sink, const std::string& id, const std::string& updated_at,
              const std::vector<chunk_row>& chunks) {
    sql::transaction tx(book_->db());
    book_->commit_document(sink, id, "p", "content-" + updated_at, updated_at, chunks);
    tx.commit();
  }
  std::vector<std::pair<std::string, std::string>> live(const std::string& sink) {
    std::vector<std::pair<std::string, std::string>> out;
    book_->for_each_live_chunk(sink,
                               [&](std::string_view id, std::string_view h) { out.emplace_back(id, h); });
    return out;
  }
};

}  // namespace

TEST_F(Ledger, PartitionsAreAddedOnceAndKeepTheirOrder) {
  book_->add_partition("jira", "SUBS");
  book_->add_partition("jira", "OPS");
  book_->add_partition("jira", "SUBS");  // known: untouched
  book_->add_partition("slack", "C1");
  auto parts = book_->partitions("jira");
  ASSERT_EQ(parts.size(), 2u);
  EXPECT_EQ(parts[0].name, "SUBS");
  EXPECT_EQ(parts[1].name, "OPS");
  EXPECT_EQ(parts[0].status, "pending");
  EXPECT_EQ(parts[0].cursor, "");
  EXPECT_EQ(parts[0].pages, 0);
  EXPECT_FALSE(book_->partition("jira", "C1").has_value());
  EXPECT_TRUE(book_->partition("slack", "C1").has_value());
}

TEST_F(Ledger, EachPageMovesTheCursorAndTheLastFinishesThePartition) {
  book_->add_partition("jira", "SUBS");
  book_->record_page(page("SUBS", 0, 3), "cursor-1", "2024-01-05");
  auto row = book_->partition("jira", "SUBS");
  EXPECT_EQ(row->status, "fetching");
  EXPECT_EQ(row->cursor, "cursor-1");
  EXPECT_EQ(row->pages, 1);
  EXPECT_EQ(row->items, 3);
  EXPECT_EQ(row->watermark, "2024-01-05");
  book_->record_page(page("SUBS", 1, 4), "cursor-2", "2024-01-03");  // the highest watermark stays
  EXPECT_EQ(book_->partition("jira", "SUBS")->watermark, "2024-01-05");
  book_->record_page(page("SUBS", 2, 1), "", "2024-02-01");
  row = book_->partition("jira", "SUBS");
  EXPECT_EQ(row->status, "done");
  EXPECT_EQ(row->cursor, "");
  EXPECT_EQ(row->pages, 3);
  EXPECT_EQ(row->items, 8);
  EXPECT_EQ(row->watermark, "2024-02-01");

  // An incremental fetch reopens it from a cursor; finishing closes it again.
  book_->reopen_partition("jira", "SUBS", "since-2024-02-01");
  row = book_->partition("jira", "SUBS");
  EXPECT_EQ(row->status, "fetching");
  EXPECT_EQ(row->cursor, "since-2024-02-01");
  EXPECT_EQ(row->pages, 3);
  book_->finish_partition("jira", "SUBS");
  row = book_->partition("jira", "SUBS");
  EXPECT_EQ(row->status, "done");
  EXPECT_EQ(row->cursor, "");
}

TEST_F(Ledger, PagesKeepTheirHashesAndAResetForgetsThem) {
  book_->add_partition("jira", "SUBS");
  book_->add_partition("jira", "OPS");
  for (int s = 0; s < 3; ++s) book_->record_page(page("SUBS", s), "c" + std::to_string(s + 1));
  book_->record_page(page("OPS", 0), "");
  auto pages = book_->pages("jira", "SUBS");
  ASSERT_EQ(pages.size(), 3u);
  EXPECT_EQ(pages[1].seq, 1);
  EXPECT_EQ(pages[1].hash, "hash-1");
  EXPECT_EQ(pages[1].path, "journal/jira/SUBS/1.json");
  EXPECT_EQ(pages[1].bytes, 101);
  EXPECT_EQ(pages[1].items, 2);
  auto later = book_->pages("jira", "SUBS", 2);
  ASSERT_EQ(later.size(), 1u);
  EXPECT_EQ(later[0].seq, 2);
  EXPECT_EQ(book_->page_count("jira"), 4);
  // A page written again (same seq) replaces the old record.
  auto again = page("SUBS", 2);
  again.hash = "rewritten";
  book_->record_page(again, "c3");
  EXPECT_EQ(book_->pages("jira", "SUBS", 2)[0].hash, "rewritten");
  EXPECT_EQ(book_->partition("jira", "SUBS")->pages, 3);

  book_->reset_partition("jira", "SUBS");
  auto row = book_->partition("jira", "SUBS");
  EXPECT_EQ(row->status, "pending");
  EXPECT_EQ(row->cursor, "");
  EXPECT_EQ(row->pages, 0);
  EXPECT_EQ(row->watermark, "");
  EXPECT_TRUE(book_->pages("jira", "SUBS").empty());
  EXPECT_EQ(book_->page_count("jira"), 1);  // OPS is untouched
}

TEST_F(Ledger, DocumentsAndChunksAreKeptPerSink) {
  // Intent: chunk ids known but not live, no document yet.
  book_->begin_document("s", "d1", {{"d1#0", "m0"}, {"d1#1", "m1"}, {"d1#2", "m2"}});
  EXPECT_FALSE(book_->document("s", "d1").has_value());
  EXPECT_EQ(book_->live_chunk_count("s"), 0);
  EXPECT_EQ(book_->stale_chunks("s", "d1", {"d1#1"}), (std::vector<std::string>{"d1#0", "d1#2"}));

  commit("s", "d1", "2024-01-01", {{"d1#0", "m0"}, {"d1#1", "m1"}});
  auto doc = book_->document("s", "d1");
  ASSERT_TRUE(doc.has_value());
  EXPECT_TRUE(doc->complete);
  EXPECT_EQ(doc->content_hash, "content-2024-01-01");
  EXPECT_EQ(doc->updated_at, "2024-01-01");
  // The commit keeps exactly the chunks it was given: d1#2 of the intent is gone.
  EXPECT_EQ(live("s"), (std::vector<std::pair<std::string, std::string>>{{"d1#0", "m0"}, {"d1#1", "m1"}}));
  EXPECT_TRUE(book_->stale_chunks("s", "d1", {"d1#0", "d1#1"}).empty());

  commit("s", "d2", "2024-01-02", {{"d2#0", "x"}});
  commit("other", "d1", "2024-01-03", {{"d1#0", "y"}});
  EXPECT_EQ(book_->document_count("s"), 2);
  EXPECT_EQ(book_->live_chunk_count("s"), 3);
  EXPECT_EQ(book_->live_chunk_count("other"), 1);
  std::vector<std::string> ids;
  book_->for_each_document("s", [&](std::string_view id) { ids.emplace_back(id); });
  EXPECT_EQ(ids, (std::vector<std::string>{"d1", "d2"}));

  EXPECT_FALSE(book_->sink_baseline("s").has_value());
  book_->set_sink_baseline("s", 42);
  EXPECT_EQ(book_->sink_baseline("s"), 42);
  EXPECT_FALSE(book_->sink_baseline("other").has_value());
}

TEST_F(Ledger, ANewVersionOfADocumentKeepsExactlyItsChunksWithTheirNewHashes) {
  book_->begin_document("s", "d1", {{"d1#0", "m0"}, {"d1#1", "m1"}, {"d1#2", "m2"}});
  commit("s", "d1", "2024-01-01", {{"d1#0", "m0"}, {"d1#1", "m1"}, {"d1#2", "m2"}});
  commit("s", "d2", "2024-01-01", {{"d2#0", "x"}});
  // The next version: d1#0's metadata changed, d1#1 kept, d1#2 gone, d1#3 new but not sent (its
  // intent recorded, then left out of the commit), d1#4 new.
  book_->begin_document("s", "d1", {{"d1#0", "m0b"}, {"d1#1", "m1"}, {"d1#3", "m3"}, {"d1#4", "m4"}});
  EXPECT_EQ(book_->stale_chunks("s", "d1", {"d1#0", "d1#1", "d1#3", "d1#4"}),
            (std::vector<std::string>{"d1#2"}));
  commit("s", "d1", "2024-01-02", {{"d1#0", "m0b"}, {"d1#1", "m1"}, {"d1#4", "m4"}});
  EXPECT_EQ(live("s"), (std::vector<std::pair<std::string, std::string>>{
                           {"d1#0", "m0b"}, {"d1#1", "m1"}, {"d1#4", "m4"}, {"d2#0", "x"}}));
  EXPECT_TRUE(book_->stale_chunks("s", "d1", {"d1#0", "d1#1", "d1#4"}).empty());
  // A chunk committed without an intent row, and one whose id another document held, are added.
  commit("s", "d2", "2024-01-03", {{"d2#0", "x"}, {"d2#1", "y"}, {"d1#4", "z"}});
  EXPECT_EQ(live("s"), (std::vector<std::pair<std::string, std::string>>{
                           {"d1#0", "m0b"}, {"d1#1", "m1"}, {"d1#4", "z"}, {"d2#0", "x"}, {"d2#1", "y"}}));
  EXPECT_EQ(book_->stale_chunks("s", "d1", {}), (std::vector<std::string>{"d1#0", "d1#1"}));
  // A version with no chunks at all (its text empty, or nothing sent) keeps none.
  commit("s", "d1", "2024-01-04", {});
  EXPECT_TRUE(book_->stale_chunks("s", "d1", {}).empty());
  EXPECT_EQ(book_->live_chunk_count("s"), 3);
}

TEST_F(Ledger, EveryTransactionThatWritesADocumentForgetsTheSinksVerification) {
  book_->note_verified("s");
  commit("s", "d1", "2024-01-01", {{"d1#0", "m"}});
  EXPECT_FALSE(book_->verified_as_is("s"));
  book_->note_verified("s");
  {  // forgotten once in a transaction, noted again in it, then forgotten by its next document
    sql::transaction tx(book_->db());
    book_->commit_document("s", "d2", "p", "h", "2024-01-02", {{"d2#0", "m"}});
    book_->note_verified("s");
    book_->commit_document("s", "d3", "p", "h", "2024-01-02", {{"d3#0", "m"}});
    tx.commit();
  }
  EXPECT_FALSE(book_->verified_as_is("s"));
  book_->note_verified("s");
  {  // a transaction rolled back forgets nothing; the next one forgets again
    sql::transaction tx(book_->db());
    book_->begin_document("s", "d4", {{"d4#0", "m"}});
  }
  EXPECT_TRUE(book_->verified_as_is("s"));
  {
    sql::transaction tx(book_->db());
    book_->begin_document("s", "d4", {{"d4#0", "m"}});
    book_->begin_document("s", "d5", {{"d5#0", "m"}});
    tx.commit();
  }
  EXPECT_FALSE(book_->verified_as_is("s"));
  book_->note_verified("s");
  book_->begin_document("s", "d6", {{"d6#0", "m"}});  // outside any transaction
  EXPECT_FALSE(book_->verified_as_is("s"));
}

TEST_F(Ledger, AForgottenDocumentLeavesATombstoneUntilItIsCommittedAgain) {
  commit("s", "d1", "2024-03-01", {{"d1#0", "m"}, {"d1#1", "m"}});
  EXPECT_FALSE(book_->tombstone("s", "d1").has_value());
  {
    sql::transaction tx(book_->db());
    book_->forget_document("s", "d1");
    tx.commit();
  }
  EXPECT_FALSE(book_->document("s", "d1").has_value());
  EXPECT_EQ(book_->live_chunk_count("s"), 0);
  EXPECT_EQ(book_->tombstone("s", "d1"), "2024-03-01");
  EXPECT_FALSE(book_->tombstone("other", "d1").has_value());
  commit("s", "d1", "2024-04-01", {{"d1#0", "m"}});
  EXPECT_FALSE(book_->tombstone("s", "d1").has_value());
  EXPECT_EQ(book_->live_chunk_count("s"), 1);
}

TEST_F(Ledger, LookupDocumentSaysInOneQueryWhatDocumentAndTombstoneSay) {
  commit("s", "d1", "2024-03-01", {{"d1#0", "m"}});
  commit("s", "d2", "2024-03-02", {{"d2#0", "m"}});
  {
    sql::transaction tx(book_->db());
    book_->forget_document("s", "d2");
    tx.commit();
  }
  for (const std::string id : {"d1", "d2", "d3"}) {
    for (const std::string sink : {"s", "other"}) {
      const doc_lookup both = book_->lookup_document(sink, id);
      const auto stored = book_->document(sink, id);
      ASSERT_EQ(both.stored.has_value(), stored.has_value()) << sink << " " << id;
      if (stored) {
        EXPECT_EQ(both.stored->content_hash, stored->content_hash);
        EXPECT_EQ(both.stored->updated_at, stored->updated_at);
        EXPECT_EQ(both.stored->complete, stored->complete);
      }
      EXPECT_EQ(both.tombstone, book_->tombstone(sink, id)) << sink << " " << id;
    }
  }
  EXPECT_EQ(book_->lookup_document("s", "d1").stored->content_hash, "content-2024-03-01");
  EXPECT_EQ(book_->lookup_document("s", "d2").tombstone, "2024-03-02");
}

TEST_F(Ledger, AReadSnapshotSeesTheLedgerAsItWasWhenItsFirstReadRan) {
  ledger other(ledger_path());  // another connection, as the ingest's writer thread has
  commit("s", "d1", "2024-03-01", {{"d1#0", "m"}});
  sql::read_snapshot snapshot(other.db());
  EXPECT_TRUE(other.document("s", "d1").has_value());
  commit("s", "d2", "2024-03-02", {{"d2#0", "m"}});
  EXPECT_FALSE(other.document("s", "d2").has_value());  // committed after the snapshot's first read
  snapshot.end();
  EXPECT_TRUE(other.document("s", "d2").has_value());
}

TEST_F(Ledger, TheEmbeddingCacheReturnsExactlyWhatWasStoredPerEmbedder) {
  std::vector<float> a = {0.1f, -2.5f, 3.0e-8f, 1e30f};
  std::vector<float> b = {1.0f, 2.0f};
  book_->store_embeddings("hash:v1:4", {{"ha", a}, {"hb", b}});
  EXPECT_EQ(book_->cached_embedding("hash:v1:4", "ha"), a);
  EXPECT_EQ(book_->cached_embedding("hash:v1:4", "hb"), b);
  EXPECT_FALSE(book_->cached_embedding("hash:v1:4", "hc").has_value());
  EXPECT_FALSE(book_->cached_embedding("openai:other", "ha").has_value());  // another vector space
  EXPECT_EQ(book_->cached_embedding_count("hash:v1:4"), 2);
  EXPECT_EQ(book_->cached_embedding_count("openai:other"), 0);
  book_->store_embeddings("hash:v1:4", {{"ha", b}});  // stored again: replaced, not added
  EXPECT_EQ(book_->cached_embedding("hash:v1:4", "ha"), b);
  EXPECT_EQ(book_->cached_embedding_count("hash:v1:4"), 2);
}

TEST_F(Ledger, EverythingSurvivesReopeningTheFile) {
  book_->add_partition("jira", "SUBS");
  book_->record_page(page("SUBS", 0), "next", "2024-01-01");
  commit("s", "d1", "2024-01-01", {{"d1#0", "m"}});
  book_->set_sink_baseline("s", 7);
  book_->store_embeddings("e", {{"h", {1.5f, 2.5f}}});
  book_->set_meta("note", "kept");
  reopen_ledger();
  auto row = book_->partition("jira", "SUBS");
  ASSERT_TRUE(row.has_value());
  EXPECT_EQ(row->cursor, "next");
  EXPECT_EQ(row->watermark, "2024-01-01");
  EXPECT_EQ(book_->pages("jira", "SUBS").at(0).hash, "hash-0");
  EXPECT_TRUE(book_->document("s", "d1")->complete);
  EXPECT_EQ(book_->live_chunk_count("s"), 1);
  EXPECT_EQ(book_->sink_baseline("s"), 7);
  EXPECT_EQ(book_->cached_embedding("e", "h"), (std::vector<float>{1.5f, 2.5f}));
  EXPECT_EQ(book_->get_meta("note"), "kept");
  EXPECT_EQ(book_->get_meta("schema_version"), std::to_string(ledger::schema_version));
}

TEST_F(Ledger, TwoConnectionsToOneFileSeeEachOthersCommits) {
  ledger second(ledger_path());
  book_->add_partition("jira", "SUBS");
  book_->record_page(page("SUBS", 0), "");
  EXPECT_EQ(second.partition("jira", "SUBS")->status, "done");
  second.store_embeddings("e", {{"h", {1.0f}}});
  EXPECT_TRUE(book_->cached_embedding("e", "h").has_value());
}

TEST_F(Ledger, ABeginThatFindsTheLedgerLockedSaysSoAndTheNextOneWorks) {
  // Transactions begin and commit with statements prepared once a connection: one that failed must
  // name what failed and leave its statement ready for the next transaction.
  ledger second(ledger_path());
  sqlite3_busy_timeout(second.db().handle(), 0);
  {
    sql::transaction holding(book_->db());
    try {
      sql::transaction blocked(second.db());
      FAIL() << "a second writer began while the first held the ledger";
    } catch (const io_error& e) {
      EXPECT_NE(std::string(e.what()).find("executing BEGIN IMMEDIATE"), std::string::npos) << e.what();
      EXPECT_NE(std::string(e.what()).find("is another backfill process using it?"), std::string::npos)
          << e.what();
    }
    EXPECT_FALSE(second.db().in_transaction());
    holding.commit();
  }
  for (int i = 0; i < 3; ++i) {  // the same cached BEGIN and COMMIT, again and again
    sql::transaction tx(second.db());
    second.db().exec("INSERT INTO meta(key, value) VALUES('k" + std::to_string(i) + "', 'v')");
    tx.commit();
  }
  EXPECT_EQ(book_->get_meta("k2"), "v");
  EXPECT_FALSE(second.db().in_transaction());
}

namespace {
std::vector<float> numbered(std::size_t n, float base) {
  std::vector<float> v(n);
  for (std::size_t i = 0; i < n; ++i) v[i] = base + static_cast<float>(i) * 0.001f;
  return v;
}
std::vector<fs::path> vector_files_in(const fs::path& dir) {
  std::vector<fs::path> out;
  std::error_code ec;
  for (fs::directory_iterator it(dir / "vectors", ec), end; !ec && it != end; it.increment(ec))
    out.push_back(it->path());
  std::sort(out.begin(), out.end());
  return out;
}
}  // namespace

TEST_F(Ledger, EachConnectionAppendsItsCallsToAFileOfItsOwnAndEveryRowFindsItsOwnVector) {
  ledger second(ledger_path());  // the ingest's cache connection beside the pipeline's
  std::vector<std::pair<std::string, std::vector<float>>> first_call, second_call, third_call;
  for (int i = 0; i < 300; ++i) first_call.emplace_back("a" + std::to_string(i), numbered(48, float(i)));
  for (int i = 0; i < 5; ++i)
    second_call.emplace_back("b" + std::to_string(i), numbered(16, 1000.0f + float(i)));
  for (int i = 0; i < 7; ++i) third_call.emplace_back("c" + std::to_string(i), numbered(48, -float(i)));
  book_->store_embeddings("e", first_call);
  second.store_embeddings("e", second_call);
  book_->store_embeddings("e", third_call);  // after the first call's vectors in the same file
  EXPECT_EQ(vector_files_in(dir_).size(), 2u);
  for (const auto* call : {&first_call, &second_call, &third_call})
    for (const auto& [h, v] : *call) {
      EXPECT_EQ(book_->cached_embedding("e", h), v) << h;
      EXPECT_EQ(second.cached_embedding("e", h), v) << h;
    }
  // The rows hold where the vectors are, not the vectors.
  auto rows = book_->db().prepare("SELECT count(*), sum(size), count(DISTINCT file) FROM embeddings");
  ASSERT_TRUE(rows.step());
  EXPECT_EQ(rows.column_int(0), 312);
  EXPECT_EQ(rows.column_int(1), (300 * 48 + 5 * 16 + 7 * 48) * 4);
  EXPECT_EQ(rows.column_int(2), 2);
  rows.reset();
  EXPECT_GE(book_->vector_file_bytes(), (300 * 48 + 5 * 16 + 7 * 48) * 4);
  EXPECT_GE(book_->cached_embedding_bytes(), book_->vector_file_bytes());
  reopen_ledger();
  EXPECT_EQ(book_->cached_embedding("e", "a299"), first_call[299].second);
  book_->store_embeddings("e", {{"d", {1.0f}}});  // a new connection starts a file of its own
  EXPECT_EQ(vector_files_in(dir_).size(), 3u);
  EXPECT_EQ(book_->cached_embedding("e", "d"), std::vector<float>{1.0f});
}

TEST_F(Ledger, AVectorWhoseBytesAreAlteredMovedOrGoneIsNotFoundRatherThanWrong) {
  book_->store_embeddings(
      "e", {{"h1", numbered(32, 1.0f)}, {"h2", numbered(32, 2.0f)}, {"h3", numbered(32, 3.0f)}});
  // A row pointing at another text's bytes (as a misattributed offset would): the checksum is
  // seeded with the text's hash, so the other vector is not taken for it.
  book_->db().exec(
      "UPDATE embeddings SET offset=(SELECT offset FROM embeddings WHERE text_hash='h2') WHERE "
      "text_hash='h1'");
  EXPECT_FALSE(book_->cached_embedding("e", "h1").has_value());
  EXPECT_EQ(book_->cached_embedding("e", "h2"), numbered(32, 2.0f));
  // A byte changed in the file (a power loss's torn write): not found, embedded again.
  const auto files = vector_files_in(dir_);
  ASSERT_EQ(files.size(), 1u);
  {
    std::fstream f(files[0], std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(2 * 32 * 4 + 5);
    f.put('\x7f');
  }
  EXPECT_FALSE(book_->cached_embedding("e", "h3").has_value());
  // The file cut short, then gone.
  fs::resize_file(files[0], 32 * 4 + 8);
  EXPECT_FALSE(book_->cached_embedding("e", "h2").has_value());
  reopen_ledger();  // no file handle kept open
  fs::remove(files[0]);
  EXPECT_FALSE(book_->cached_embedding("e", "h2").has_value());
  // Stored again (its text embedded again): found, from a new file.
  book_->store_embeddings("e", {{"h2", numbered(32, 2.0f)}});
  EXPECT_EQ(book_->cached_embedding("e", "h2"), numbered(32, 2.0f));
}

TEST_F(Ledger, EvictionAndGcRemoveTheVectorFilesNoRowNeeds) {
  book_->store_embeddings("e", {{"h1", numbered(64, 1.0f)}, {"h2", numbered(64, 2.0f)}});
  {
    ledger other(ledger_path());
    other.store_embeddings("e", {{"h3", numbered(64, 3.0f)}});
  }
  // What a killed run appended and never recorded.
  { std::ofstream(dir_ / "vectors" / "99.vec") << "unrecorded"; }
  EXPECT_EQ(vector_files_in(dir_).size(), 3u);
  EXPECT_EQ(book_->remove_unreferenced_vector_files(), 1);
  EXPECT_EQ(vector_files_in(dir_).size(), 2u);
  // gc with keep_embeddings: half precision in a file of its own, the float32 files removed.
  EXPECT_EQ(book_->compact_embedding_cache(), 3);
  EXPECT_EQ(vector_files_in(dir_).size(), 1u);
  EXPECT_EQ(book_->vector_file_bytes(), 3 * (64 * 2 + 1));
  EXPECT_EQ(book_->compact_embedding_cache(), 0);  // nothing left in float32
  auto h3 = book_->cached_embedding("e", "h3");
  ASSERT_TRUE(h3.has_value());
  EXPECT_NEAR((*h3)[10], numbered(64, 3.0f)[10], 1e-2);
  // After a verified run: heal copies, no files.
  book_->store_embeddings("e", {{"h4", numbered(64, 4.0f)}});
  EXPECT_EQ(vector_files_in(dir_).size(), 2u);
  EXPECT_EQ(book_->keep_heal_copies(), 4);
  EXPECT_TRUE(vector_files_in(dir_).empty());
  EXPECT_TRUE(book_->has_heal_copies());
  auto h4 = book_->cached_embedding("e", "h4");
  ASSERT_TRUE(h4.has_value());
  EXPECT_NEAR((*h4)[10], numbered(64, 4.0f)[10], 0.05);
  // The writer's file was removed: its next call starts another.
  book_->store_embeddings("e", {{"h5", numbered(64, 5.0f)}});
  EXPECT_EQ(book_->cached_embedding("e", "h5"), numbered(64, 5.0f));
  EXPECT_EQ(book_->clear_embedding_cache(), 5);
  EXPECT_TRUE(vector_files_in(dir_).empty());
  EXPECT_FALSE(book_->has_heal_copies());
}

TEST_F(Ledger, ACacheWrittenBeforeTheVectorFilesIsStillRead) {
  book_.reset();
  fs::remove(ledger_path());
  const std::vector<float> v = {0.25f, -1.5f, 3.0f};
  {
    sql::database old(ledger_path(), "schema 2 ledger");
    old.exec(
        "CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);"
        "INSERT INTO meta VALUES('schema_version', '2');"
        "CREATE TABLE embeddings(embedder TEXT NOT NULL, text_hash TEXT NOT NULL, vector BLOB NOT NULL,"
        " PRIMARY KEY(embedder, text_hash))");
    auto st = old.prepare("INSERT INTO embeddings VALUES('e', 'old', ?)");
    st.bind_blob(1, v.data(), v.size() * sizeof(float)).run();
  }
  reopen_ledger();
  EXPECT_EQ(book_->get_meta("schema_version"), std::to_string(ledger::schema_version));
  EXPECT_EQ(book_->cached_embedding("e", "old"), v);
  // The vector moved out of its row into a vector file, durably.
  EXPECT_EQ(vector_files_in(dir_).size(), 1u);
  EXPECT_EQ(book_->vector_file_bytes(), static_cast<std::int64_t>(v.size() * sizeof(float)));
  reopen_ledger();  // migrated once: opening it again changes nothing
  EXPECT_EQ(vector_files_in(dir_).size(), 1u);
  EXPECT_EQ(book_->cached_embedding("e", "old"), v);
  book_->store_embeddings("e", {{"new", {1.0f, 2.0f, 3.0f}}});
  EXPECT_EQ(book_->cached_embedding("e", "new"), (std::vector<float>{1.0f, 2.0f, 3.0f}));
  EXPECT_EQ(book_->cached_embedding_count("e"), 2);
  EXPECT_EQ(book_->keep_heal_copies(), 2);
  EXPECT_TRUE(book_->cached_embedding("e", "old").has_value());
}

// A schema-3 ledger keyed the cache's rows by the embedder's identity, in a rowid table with an
// index of its own; opening it rewrites them with embedder ids, each vector and heal copy found.
TEST_F(Ledger, ASchema3CacheIsKeyedByEmbedderIdsOnceAndReadsAsBefore) {
  const std::vector<float> a = numbered(24, 1.0f), b = numbered(24, 2.0f), c = numbered(24, 3.0f);
  book_->store_embeddings("openai:m:24", {{"ha", a}});
  EXPECT_EQ(book_->keep_heal_copies(), 1);
  book_->store_embeddings("openai:m:24", {{"hb", b}});
  book_->store_embeddings("hash:24", {{"hc", c}});
  // The same rows as schema 3 kept them.
  book_->db().exec(
      "BEGIN;"
      "ALTER TABLE embeddings RENAME TO e4; ALTER TABLE heal_copies RENAME TO h4;"
      "CREATE TABLE embeddings(embedder TEXT NOT NULL, text_hash TEXT NOT NULL, vector BLOB NOT NULL,"
      " file INTEGER NOT NULL DEFAULT 0, offset INTEGER NOT NULL DEFAULT 0, size INTEGER NOT NULL DEFAULT 0,"
      " checksum INTEGER NOT NULL DEFAULT 0, PRIMARY KEY(embedder, text_hash));"
      "INSERT INTO embeddings SELECT i.identity, t.text_hash, x'', t.file, t.offset, t.size, t.checksum"
      " FROM e4 t JOIN embedder_ids i ON i.id = t.embedder;"
      "CREATE TABLE heal_copies(embedder TEXT NOT NULL, text_hash TEXT NOT NULL, grp INTEGER NOT NULL,"
      " offset INTEGER NOT NULL, size INTEGER NOT NULL, PRIMARY KEY(embedder, text_hash)) WITHOUT ROWID;"
      "INSERT INTO heal_copies SELECT i.identity, t.text_hash, t.grp, t.offset, t.size"
      " FROM h4 t JOIN embedder_ids i ON i.id = t.embedder;"
      "DROP TABLE e4; DROP TABLE h4; DROP TABLE embedder_ids;"
      "UPDATE meta SET value='3' WHERE key='schema_version'; COMMIT");
  reopen_ledger();
  EXPECT_EQ(book_->get_meta("schema_version"), std::to_string(ledger::schema_version));
  auto type = book_->db().prepare("SELECT type FROM pragma_table_info('embeddings') WHERE name = 'embedder'");
  ASSERT_TRUE(type.step());
  EXPECT_EQ(type.column_text(0), "INTEGER");
  type.reset();
  EXPECT_EQ(book_->cached_embedding("openai:m:24", "hb"), b);
  EXPECT_EQ(book_->cached_embedding("hash:24", "hc"), c);
  EXPECT_FALSE(book_->cached_embedding("hash:24", "hb").has_value());  // each embedder its own
  auto healed = book_->cached_embedding("openai:m:24", "ha");
  ASSERT_TRUE(healed.has_value());
  EXPECT_NEAR((*healed)[5], a[5], 0.05);
  EXPECT_EQ(book_->cached_embedding_count("openai:m:24"), 2);
  EXPECT_EQ(book_->cached_embedding_count("hash:24"), 1);
  EXPECT_EQ(book_->cached_embedding_count("unknown"), 0);
}

TEST_F(Ledger, ALedgerFromANewerBackfillIsRefusedAndAnOlderOneGainsTheWatermark) {
  book_->set_meta("schema_version", std::to_string(ledger::schema_version + 1));
  book_.reset();
  try {
    ledger newer(ledger_path());
    FAIL() << "expected ledger_error";
  } catch (const ledger_error& e) {
    EXPECT_NE(std::string(e.what()).find("newer backfill"), std::string::npos) << e.what();
  }
  fs::remove(ledger_path());
  {
    // A ledger written before partitions had a watermark.
    sql::database old(ledger_path(), "old ledger");
    old.exec(
        "CREATE TABLE partitions(source TEXT NOT NULL, name TEXT NOT NULL, status TEXT NOT NULL DEFAULT "
        "'pending',"
        " cursor TEXT NOT NULL DEFAULT '', pages INTEGER NOT NULL DEFAULT 0, items INTEGER NOT NULL DEFAULT "
        "0,"
        " updated_at TEXT NOT NULL, UNIQUE(source, name));"
        "INSERT INTO partitions(source, name, status, cursor, updated_at) "
        "VALUES('jira','SUBS','fetching','c7','t')");
  }
  reopen_ledger();
  auto row = book_->partition("jira", "SUBS");
  ASSERT_TRUE(row.has_value());
  EXPECT_EQ(row->cursor, "c7");
  EXPECT_EQ(row->watermark, "");
  book_->record_page(page("SUBS", 0), "c8", "2024-01-01");
  EXPECT_EQ(book_->partition("jira", "SUBS")->watermark, "2024-01-01");
}

TEST_F(Ledger, SinksAreKeyedByAnIntegerIdNotTheirIdentityInEveryRow) {
  const std::string pinecone = "pinecone:http://127.0.0.1:9/#ns";
  commit(pinecone, "d1", "2024-01-01", {{"d1#0", "m0"}, {"d1#1", "m1"}});
  commit("local:/tmp/index#", "d1", "2024-01-01", {{"d1#0", "m0"}});
  book_->set_sink_baseline(pinecone, 3);
  auto st = book_->db().prepare("SELECT count(*) FROM chunks WHERE typeof(sink)='integer'");
  ASSERT_TRUE(st.step());
  EXPECT_EQ(st.column_int(0), 3);
  auto ids = book_->db().prepare("SELECT count(*) FROM sink_ids");
  ASSERT_TRUE(ids.step());
  EXPECT_EQ(ids.column_int(0), 2);
  EXPECT_EQ(book_->live_chunk_count(pinecone), 2);
  EXPECT_EQ(book_->live_chunk_count("local:/tmp/index#"), 1);
  EXPECT_EQ(book_->live_chunk_count("never:written"), 0);  // a sink the ledger has not seen
  EXPECT_FALSE(book_->document("never:written", "d1").has_value());
  EXPECT_EQ(book_->sink_baseline(pinecone), 3);
}

TEST_F(Ledger, ASchema1LedgerIsRewrittenWithSinkIdsAndKeepsEveryRow) {
  book_.reset();
  fs::remove(ledger_path());
  {
    sql::database old(ledger_path(), "schema 1 ledger");
    old.exec(
        "CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);"
        "INSERT INTO meta VALUES('schema_version', '1');"
        "CREATE TABLE documents(sink TEXT NOT NULL, id TEXT NOT NULL, partition TEXT NOT NULL,"
        " content_hash TEXT NOT NULL, updated_at TEXT NOT NULL, complete INTEGER NOT NULL,"
        " ingested_at TEXT NOT NULL, PRIMARY KEY(sink, id)) WITHOUT ROWID;"
        "CREATE TABLE chunks(sink TEXT NOT NULL, id TEXT NOT NULL, doc_id TEXT NOT NULL,"
        " meta_hash TEXT NOT NULL, live INTEGER NOT NULL, PRIMARY KEY(sink, id)) WITHOUT ROWID;"
        "CREATE INDEX chunks_by_doc ON chunks(sink, doc_id);"
        "CREATE TABLE sinks(sink TEXT PRIMARY KEY, baseline INTEGER NOT NULL);"
        "CREATE TABLE tombstones(sink TEXT NOT NULL, id TEXT NOT NULL, updated_at TEXT NOT NULL,"
        " deleted_at TEXT NOT NULL, PRIMARY KEY(sink, id)) WITHOUT ROWID;"
        "CREATE TABLE unsent(sink TEXT NOT NULL, id TEXT NOT NULL, doc_id TEXT NOT NULL, reason TEXT NOT "
        "NULL,"
        " PRIMARY KEY(sink, id)) WITHOUT ROWID;"
        "CREATE INDEX unsent_by_doc ON unsent(sink, doc_id);"
        "INSERT INTO documents "
        "VALUES('pc:a#n','d1','p','h1','2024','1','t'),('pc:a#n','d2','p','h2','2024',0,'t'),"
        " ('local:b','d1','p','h1','2024',1,'t');"
        "INSERT INTO chunks VALUES('pc:a#n','d1#0','d1','m',1),('pc:a#n','d2#0','d2','m',1),"
        " ('local:b','d1#0','d1','m',1);"
        "INSERT INTO sinks VALUES('pc:a#n', 5);"
        "INSERT INTO tombstones VALUES('local:b','gone','2023','t');"
        "INSERT INTO unsent VALUES('pc:a#n','d2#0','d2','too large');");
  }
  reopen_ledger();
  EXPECT_EQ(book_->get_meta("schema_version"), std::to_string(ledger::schema_version));
  EXPECT_EQ(book_->document_count("pc:a#n"), 1);
  EXPECT_EQ(book_->pending_document_count("pc:a#n"), 1);
  EXPECT_EQ(book_->live_chunk_count("pc:a#n"), 2);
  EXPECT_EQ(book_->live_chunk_count("local:b"), 1);
  EXPECT_EQ(book_->sink_baseline("pc:a#n"), 5);
  EXPECT_EQ(book_->tombstone("local:b", "gone"), "2023");
  ASSERT_EQ(book_->unsent("pc:a#n", 10).size(), 1u);
  EXPECT_EQ(book_->unsent("pc:a#n", 10)[0].reason, "too large");
  EXPECT_EQ(book_->stale_chunks("pc:a#n", "d1", {}), std::vector<std::string>{"d1#0"});
  reopen_ledger();  // once: a second open finds nothing to rewrite
  EXPECT_EQ(book_->live_chunk_count("pc:a#n"), 2);
}

TEST_F(Ledger, TheCacheIsClearedAndAVerificationHoldsOnlyUntilTheNextChange) {
  book_->store_embeddings("e", {{"h1", std::vector<float>(64, 1.0f)}, {"h2", std::vector<float>(64, 2.0f)}});
  EXPECT_GT(book_->cached_embedding_bytes(), 2 * 64 * 4 - 1);
  commit("s", "d1", "2024-01-01", {{"d1#0", "m"}});
  EXPECT_FALSE(book_->verified_as_is("s"));
  book_->note_verified("s");
  EXPECT_TRUE(book_->verified_as_is("s"));
  EXPECT_TRUE(book_->mark_chunk_pending("s", "d1#0"));
  EXPECT_FALSE(book_->verified_as_is("s"));  // verify found a record missing since
  book_->note_verified("s");
  commit("s", "d2", "2024-01-01", {{"d2#0", "m"}});
  EXPECT_FALSE(book_->verified_as_is("s"));  // ingested since
  EXPECT_EQ(book_->clear_embedding_cache(), 2);
  EXPECT_EQ(book_->cached_embedding_count("e"), 0);
  book_->compact();
  EXPECT_EQ(book_->cached_embedding_bytes(), 0);
}

TEST_F(Ledger, HealCopiesReplaceTheCacheAndReadBackWithinAByteAComponent) {
  std::vector<float> v(1536), zero(8, 0.0f);
  double norm = 0;
  for (std::size_t i = 0; i < v.size(); ++i) {
    v[i] = std::sin(static_cast<float>(i) * 0.37f) * (i % 7 == 0 ? 3.0f : 1.0f);
    norm += static_cast<double>(v[i]) * v[i];
  }
  book_->store_embeddings("e", {{"h", v}, {"z", zero}});
  book_->store_embeddings("e", {{"half", {0.5f, -0.5f, 0.0f}}});
  EXPECT_EQ(book_->compact_embedding_cache(), 3);  // a cache compacted first gives its copies too
  book_->store_embeddings("e", {{"h", v}});
  EXPECT_EQ(book_->keep_heal_copies(), 3);
  EXPECT_EQ(book_->keep_heal_copies(), 0);  // the cache is empty; the copies stay
  EXPECT_EQ(book_->cached_embedding_count("e"), 3);
  EXPECT_GT(book_->cached_embedding_bytes(), 0);  // the copies are the cache's part of the workdir
  {
    auto rows = book_->db().prepare("SELECT count(*) FROM embeddings");
    ASSERT_TRUE(rows.step());
    EXPECT_EQ(rows.column_int(0), 0);
  }
  auto back = book_->cached_embedding("e", "h");
  ASSERT_TRUE(back.has_value());
  ASSERT_EQ(back->size(), v.size());
  double dot = 0, back_norm = 0, largest = 0;
  for (float x : v) largest = std::max(largest, std::fabs(static_cast<double>(x)));
  for (std::size_t i = 0; i < v.size(); ++i) {
    dot += static_cast<double>(v[i]) * (*back)[i];
    back_norm += static_cast<double>((*back)[i]) * (*back)[i];
    EXPECT_LE(std::fabs((*back)[i] - v[i]), largest / 254 + 1e-6) << i;
  }
  EXPECT_GT(dot / std::sqrt(norm * back_norm), 0.9999);
  EXPECT_EQ(book_->cached_embedding("e", "z"), zero);
  auto half = book_->cached_embedding("e", "half");
  ASSERT_TRUE(half.has_value());
  EXPECT_EQ(*half, (std::vector<float>{0.5f, -0.5f, 0.0f}));
  // A text embedded again is cached whole, and read so before its heal copy.
  book_->store_embeddings("e", {{"h", v}});
  EXPECT_EQ(book_->cached_embedding("e", "h"), v);
  EXPECT_EQ(book_->cached_embedding_count("e"), 3);
  EXPECT_EQ(book_->clear_embedding_cache(), 4);
  EXPECT_FALSE(book_->cached_embedding("e", "z").has_value());
}

TEST_F(Ledger, TheCacheCompactedToHalfPrecisionReadsBackWithinItsPrecision) {
  std::vector<float> v = {0.0f, 1.0f, -0.3333333f, 65504.0f, 1e-6f, -2.5e-3f, 1e9f};
  book_->store_embeddings("e", {{"h", v}});
  const std::int64_t before = book_->cached_embedding_bytes();
  EXPECT_EQ(book_->compact_embedding_cache(), 1);
  EXPECT_EQ(book_->compact_embedding_cache(), 0);  // already compact
  auto back = book_->cached_embedding("e", "h");
  ASSERT_TRUE(back.has_value());
  ASSERT_EQ(back->size(), v.size());
  EXPECT_EQ((*back)[0], 0.0f);
  EXPECT_EQ((*back)[1], 1.0f);
  EXPECT_NEAR((*back)[2], -0.3333333f, 1e-3f);
  EXPECT_EQ((*back)[3], 65504.0f);
  EXPECT_NEAR((*back)[4], 1e-6f, 1e-7f);  // a subnormal half
  EXPECT_NEAR((*back)[5], -2.5e-3f, 2e-6f);
  EXPECT_EQ((*back)[6], 65504.0f);  // beyond half's range: saturated, not infinite
  auto st = book_->db().prepare("SELECT size FROM embeddings");
  ASSERT_TRUE(st.step());
  EXPECT_EQ(st.column_int(0), static_cast<std::int64_t>(2 * v.size() + 1));
  EXPECT_EQ(book_->vector_file_bytes(), static_cast<std::int64_t>(2 * v.size() + 1));
  EXPECT_GT(before, 0);
}

// The cache's rows say only where each vector is: one b-tree without rowid, keyed by the embedder's
// integer id and the text's hash (not the embedder's identity, repeated in a table and its index).
TEST_F(Ledger, TheEmbeddingCacheKeepsSmallRowsInOneTableWithoutRowidAndCountsTheFilesInItsSize) {
  std::vector<std::pair<std::string, std::vector<float>>> vectors;
  for (int i = 0; i < 50; ++i)
    vectors.push_back({"hash-" + std::to_string(i), std::vector<float>(1536, 0.25f)});
  book_->store_embeddings("openai:https://api.openai.com/v1:text-embedding-3-small:1536", vectors);
  auto sql = book_->db().prepare("SELECT sql FROM sqlite_master WHERE name = 'embeddings'");
  ASSERT_TRUE(sql.step());
  EXPECT_NE(sql.column_text(0).find("WITHOUT ROWID"), std::string::npos) << sql.column_text(0);
  sql.reset();
  auto pages = book_->db().prepare(
      "SELECT coalesce(sum(pgsize), 0) FROM dbstat WHERE name IN ('embedder_ids', "
      "'sqlite_autoindex_embedder_ids_1', 'embeddings', 'heal_copies', 'heal_groups')");
  ASSERT_TRUE(pages.step());
  EXPECT_EQ(book_->cached_embedding_bytes(), pages.column_int(0) + book_->vector_file_bytes());
  EXPECT_EQ(book_->vector_file_bytes(), 50 * 1536 * 4);  // the vectors, side by side in one file
  EXPECT_LT(pages.column_int(0), 50 * 1536 * 4 / 10);    // the rows say only where they are
  pages.reset();
  // 4,000 rows under 32-hex keys, in embed calls of 250: under 80 bytes of pages a row, where
  // rows keyed by the embedder's identity and an index beside them took about 200.
  const std::string embedder = "openai:https://api.openai.com/v1:text-embedding-3-small:1536";
  for (int call = 0; call < 16; ++call) {
    std::vector<std::pair<std::string, std::vector<float>>> many;
    for (int i = 0; i < 250; ++i)
      many.push_back(
          {fmt::format("{:032x}", static_cast<std::uint32_t>(call * 250 + i) * 2654435761u), {1.0f}});
    book_->store_embeddings(embedder, many);
  }
  auto table = book_->db().prepare(
      "SELECT coalesce(sum(pgsize), 0) FROM dbstat WHERE name IN ('embeddings', 'embedder_ids', "
      "'sqlite_autoindex_embedder_ids_1')");
  ASSERT_TRUE(table.step());
  EXPECT_LT(table.column_int(0), 4050 * 80) << table.column_int(0) / 4050 << " bytes a row";
}
