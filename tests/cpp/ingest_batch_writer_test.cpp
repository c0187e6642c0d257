// The write step against the local index: upserts by the sink's batch size, acknowledged in full,
// stale chunks deleted, documents committed in the ledger.
#include "backfill/ingest/batch_writer.hpp"

#include <gtest/gtest.h>

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "backfill/core/errors.hpp"
#include "backfill/sinks/local/local_index.hpp"
#include "scratch_dir.hpp"

namespace fs = std::filesystem;
using namespace backfill;

namespace {

// The local index with a small batch limit, counting the records of each upsert; optionally lossy:
// it stores every record but acknowledges `drop` fewer.
class small_batch_sink final : public sink {
 public:
  small_batch_sink(local_index& inner, std::size_t max) : inner_(inner), max_(max) {}
  std::string kind() const override { return "test"; }
  std::string identity() const override { return inner_.identity(); }
  std::string describe() const override { return "test sink"; }
  std::size_t max_batch() const override { return max_; }
  std::int64_t upsert(const std::vector<record>& records) override {
    sizes.push_back(records.size());
    return inner_.upsert(records) - drop;
  }
  std::vector<fetched_record> fetch(const std::vector<std::string>& ids) override {
    return inner_.fetch(ids);
  }
  void remove(const std::vector<std::string>& ids) override { inner_.remove(ids); }
  std::vector<std::string> list(std::string_view prefix, std::string_view after, std::size_t limit) override {
    return inner_.list(prefix, after, limit);
  }
  sink_stats stats() override { return inner_.stats(); }
  std::vector<query_match> query(const std::vector<float>& v, std::size_t k) override {
    return inner_.query(v, k);
  }

  std::vector<std::size_t> sizes;
  std::int64_t drop = 0;

 private:
  local_index& inner_;
  std::size_t max_;
};

class IngestBatchWriter : public scratch_ledger_test {
 protected:
  void SetUp() override {
    scratch_ledger_test::SetUp();
    index_ = std::make_unique<local_index>(dir_ / "index.sqlite", "ns");
  }
  void TearDown() override {
    index_.reset();
    scratch_ledger_test::TearDown();
  }
  // A batch of documents d<i> with `chunks` chunks each, every vector filled.
  static batch batch_of(int docs, int chunks, const std::string& version = "1") {
    batch b;
    b.slots.push_back(std::make_shared<vector_slot>(vector_slot{std::vector<float>{1, 0, 0, 0}}));
    for (int i = 0; i < docs; ++i) {
      pending_doc d;
      d.id = "d" + std::to_string(i);
      d.partition = "p";
      d.content_hash = "h" + version;
      d.updated_at = version;
      for (int c = 0; c < chunks; ++c) {
        pending_chunk pc;
        pc.c.id = chunk_id(d.id, c);
        pc.metadata_json = "{\"v\":\"" + version + "\"}";
        pc.meta_hash = "m" + version;
        d.chunks.push_back(std::move(pc));
      }
      b.add(std::move(d));
    }
    return b;
  }

  std::unique_ptr<local_index> index_;
};

}  // namespace

TEST_F(IngestBatchWriter, UpsertsInSlicesOfTheSinksBatchSizeAndCommitsTheDocuments) {
  small_batch_sink snk(*index_, 4);
  batch_writer writer(snk, 10);
  auto b = batch_of(3, 3);  // 9 records
  record_intent(*book_, snk.identity(), b);
  EXPECT_FALSE(book_->document(snk.identity(), "d0").has_value());  // intent only
  EXPECT_EQ(book_->live_chunk_count(snk.identity()), 0);
  writer.write(b, *book_);
  EXPECT_EQ(snk.sizes, (std::vector<std::size_t>{4, 4, 1}));
  EXPECT_EQ(index_->stats().count, 9);
  auto doc = book_->document(snk.identity(), "d2");
  ASSERT_TRUE(doc.has_value());
  EXPECT_TRUE(doc->complete);
  EXPECT_EQ(doc->content_hash, "h1");
  EXPECT_EQ(book_->live_chunk_count(snk.identity()), 9);
  ingest_report report;
  writer.merge_into(report);
  EXPECT_EQ(report.chunks_written, 9);
  EXPECT_EQ(report.upsert_requests, 3);
  EXPECT_EQ(report.documents_written, 3);
  EXPECT_EQ(report.stale_chunks_deleted, 0);
}

TEST_F(IngestBatchWriter, ChunksAChangedDocumentNoLongerHasAreDeleted) {
  small_batch_sink snk(*index_, 100);
  batch_writer writer(snk, 10);
  auto before = batch_of(1, 3, "1");
  record_intent(*book_, snk.identity(), before);
  writer.write(before, *book_);
  auto after = batch_of(1, 1, "2");
  record_intent(*book_, snk.identity(), after);
  writer.write(after, *book_);
  EXPECT_EQ(index_->list("d0#", "", 10), std::vector<std::string>{"d0#0"});
  EXPECT_EQ(book_->live_chunk_count(snk.identity()), 1);
  EXPECT_EQ(book_->document(snk.identity(), "d0")->content_hash, "h2");
  ingest_report report;
  writer.merge_into(report);
  EXPECT_EQ(report.stale_chunks_deleted, 2);
}

TEST_F(IngestBatchWriter, AShortAcknowledgementFailsBeforeAnythingIsCommitted) {
  small_batch_sink snk(*index_, 100);
  snk.drop = 1;
  batch_writer writer(snk, 10);
  auto b = batch_of(2, 2);
  record_intent(*book_, snk.identity(), b);
  try {
    writer.write(b, *book_);
    FAIL() << "expected sink_error";
  } catch (const sink_error& e) {
    EXPECT_NE(std::string(e.what()).find("acknowledged 3 of 4 records"), std::string::npos) << e.what();
  }
  EXPECT_FALSE(book_->document(snk.identity(), "d0").has_value());
  EXPECT_EQ(book_->live_chunk_count(snk.identity()), 0);
  // The intent still names every id the sink may now hold.
  EXPECT_EQ(book_->stale_chunks(snk.identity(), "d1", {}), (std::vector<std::string>{"d1#0", "d1#1"}));
}
