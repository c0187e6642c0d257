// Dedup of one ingest run against itself and against the ledger, on a real ledger file.
#include "backfill/ingest/dedup.hpp"
#include "scratch_dir.hpp"

#include <gtest/gtest.h>

#include <filesystem>
#include <memory>
#include <string>

namespace fs = std::filesystem;
using namespace backfill;

namespace {

class IngestDedup : public scratch_ledger_test {
 protected:
  // A document the ledger holds as ingested into sink "s".
  void ingested(const std::string& id, const std::string& content_hash, const std::string& updated_at) {
    sql::transaction tx(book_->db());
    book_->commit_document("s", id, "p", content_hash, updated_at, {{id + "#0", "m"}});
    tx.commit();
  }
  static document doc(const std::string& id, const std::string& updated_at) {
    document d;
    d.id = id;
    d.updated_at = updated_at;
    return d;
  }
};

}  // namespace

TEST_F(IngestDedup, TheLatestUpdatedAtWinsAndTheFirstWinsATie) {
  document_dedup dedup(*book_, "s");
  EXPECT_EQ(dedup.check(doc("d1", "2024-01-02"), "h1"), dedup_verdict::write);
  EXPECT_EQ(dedup.check(doc("d1", "2024-01-01"), "h2"), dedup_verdict::superseded);  // earlier
  EXPECT_EQ(dedup.check(doc("d1", "2024-01-02"), "h3"), dedup_verdict::superseded);  // a tie: the first stays
  EXPECT_EQ(dedup.check(doc("d1", "2024-01-03"), "h4"), dedup_verdict::write_again);
  EXPECT_EQ(dedup.check(doc("d1", "2024-01-02"), "h5"), dedup_verdict::superseded);  // against the newest
  EXPECT_EQ(dedup.check(doc("d2", "2024-01-01"), "h1"), dedup_verdict::write);       // ids are separate
}

TEST_F(IngestDedup, ADocumentTheLedgerHoldsUnchangedIsSkippedAndAnOlderOneLoses) {
  ingested("d1", "same", "2024-05-01");
  ingested("d2", "old", "2024-05-01");
  ingested("d3", "old", "2024-05-01");
  document_dedup dedup(*book_, "s");
  EXPECT_EQ(dedup.check(doc("d1", "2024-05-01"), "same"), dedup_verdict::unchanged);
  EXPECT_EQ(dedup.check(doc("d2", "2024-04-01"), "new"), dedup_verdict::superseded);
  EXPECT_EQ(dedup.check(doc("d3", "2024-06-01"), "new"), dedup_verdict::write);
  // What the ledger decided is remembered for the rest of the run: the ledger's version of d2.
  EXPECT_EQ(dedup.check(doc("d2", "2024-05-01"), "newer"), dedup_verdict::superseded);
  EXPECT_EQ(dedup.check(doc("d2", "2024-05-02"), "newer"), dedup_verdict::write_again);
  EXPECT_EQ(dedup.check(doc("d1", "2024-05-02"), "changed"), dedup_verdict::write_again);
  // Another sink knows nothing of these documents.
  document_dedup other(*book_, "t");
  EXPECT_EQ(other.check(doc("d1", "2024-05-01"), "same"), dedup_verdict::write);
}

TEST_F(IngestDedup, ADocumentReconcileDeletedComesBackOnlyInALaterVersion) {
  ingested("d1", "h", "2024-05-01");
  ingested("d2", "h", "2024-05-01");
  {
    sql::transaction tx(book_->db());
    book_->forget_document("s", "d1");
    book_->forget_document("s", "d2");
    tx.commit();
  }
  document_dedup dedup(*book_, "s");
  EXPECT_EQ(dedup.check(doc("d1", "2024-05-01"), "h"), dedup_verdict::deleted_upstream);
  EXPECT_EQ(dedup.check(doc("d1", "2024-04-01"), "h"), dedup_verdict::superseded);
  EXPECT_EQ(dedup.check(doc("d2", "2024-05-02"), "h2"), dedup_verdict::write);
}

TEST_F(IngestDedup, ManyDocumentsAreAllRemembered) {
  document_dedup dedup(*book_, "s");
  const int n = 25000;  // past the scratch database's commit interval, twice
  for (int i = 0; i < n; ++i)
    ASSERT_EQ(dedup.check(doc("d" + std::to_string(i), "1"), "h"), dedup_verdict::write) << i;
  for (int i = 0; i < n; i += 997)
    EXPECT_EQ(dedup.check(doc("d" + std::to_string(i), "1"), "h"), dedup_verdict::superseded) << i;
}

// A first ingest of a sink does not ask the ledger about each document; the ledger answers whether
// that is a first ingest, counting the tombstones reconcile leaves as well as documents.
TEST_F(IngestDedup, TheLedgerSaysWhetherItHoldsAnyDocumentOfASink) {
  EXPECT_FALSE(book_->holds_documents("s"));
  ingested("d1", "h", "2024-05-01");
  EXPECT_TRUE(book_->holds_documents("s"));
  EXPECT_FALSE(book_->holds_documents("t"));
  {
    sql::transaction tx(book_->db());
    book_->forget_document("s", "d1");
    tx.commit();
  }
  EXPECT_FALSE(book_->document("s", "d1").has_value());
  EXPECT_TRUE(book_->holds_documents("s"));  // its tombstone
  document_dedup dedup(*book_, "s");
  EXPECT_EQ(dedup.check(doc("d1", "2024-05-01"), "h"), dedup_verdict::deleted_upstream);
}

TEST_F(IngestDedup, AFirstIngestStillTellsItsOwnDocumentsApart) {
  document_dedup dedup(*book_, "s");
  EXPECT_EQ(dedup.check(doc("d1", "2024-05-01"), "h"), dedup_verdict::write);
  ingested("d1", "h", "2024-05-01");  // written by this ingest's writer
  EXPECT_EQ(dedup.check(doc("d1", "2024-05-01"), "h"), dedup_verdict::superseded);
  EXPECT_EQ(dedup.check(doc("d1", "2024-05-02"), "h2"), dedup_verdict::write_again);
  EXPECT_EQ(dedup.check(doc("d2", "2024-05-01"), "h"), dedup_verdict::write);
}
