// The embed plan: each distinct text is embedded once, the cache is read first, and a job's vectors
// reach the cache as the embedder hands them over.
#include "backfill/ingest/embed_plan.hpp"

#include <gtest/gtest.h>

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "backfill/core/errors.hpp"
#include "backfill/core/hash.hpp"
#include "scratch_dir.hpp"

namespace fs = std::filesystem;
using namespace backfill;

namespace {

class IngestEmbedPlan : public scratch_ledger_test {
 protected:
  // A batch of one document per text, one chunk each.
  static std::shared_ptr<batch> batch_of(const std::vector<std::string>& texts) {
    auto b = std::make_shared<batch>();
    int n = 0;
    for (const auto& t : texts) {
      pending_doc d;
      d.id = "d" + std::to_string(n++);
      pending_chunk pc;
      pc.c.id = chunk_id(d.id, 0);
      pc.c.text = t;
      pc.c.text_hash = hash_hex(t);
      d.chunks.push_back(std::move(pc));
      b->add(std::move(d));
    }
    return b;
  }
  static std::size_t texts_in(const std::vector<embed_job>& jobs) {
    std::size_t n = 0;
    for (const auto& j : jobs) n += j.texts.size();
    return n;
  }

  hash_embedder emb_{16};
};

// Returns vectors of the wrong dimension, or the right ones after a part that fails.
class broken_embedder final : public embedder {
 public:
  explicit broken_embedder(bool wrong_dimension) : wrong_dimension_(wrong_dimension) {}
  std::string identity() const override { return "broken"; }
  int dimension() const override { return 16; }
  std::vector<std::vector<float>> embed(const std::vector<std::string_view>& texts) override {
    return std::vector<std::vector<float>>(texts.size(), std::vector<float>(wrong_dimension_ ? 8 : 16, 1.0f));
  }
  // The first half arrives, then the call fails.
  void embed_parts(const std::vector<std::string_view>& texts, const part_fn& on_part,
                   run_context*) override {
    if (wrong_dimension_) {
      auto v = embed(texts);
      on_part(0, v);
      return;
    }
    std::vector<std::vector<float>> half(texts.size() / 2, std::vector<float>(16, 1.0f));
    on_part(0, half);
    throw embed_error("quota spent");
  }

 private:
  bool wrong_dimension_;
};

}  // namespace

TEST_F(IngestEmbedPlan, EachDistinctTextIsEmbeddedOnceInJobsOfTheEmbeddersSize) {
  embed_planner planner(*book_, emb_.identity(), 2, 1000);
  auto b = batch_of({"a", "b", "a", "c", "d", "b", "e"});
  std::int64_t hits = 0;
  auto jobs = planner.plan(b, hits);
  EXPECT_EQ(hits, 0);
  ASSERT_EQ(jobs.size(), 3u);  // a b | c d | e
  EXPECT_EQ(texts_in(jobs), 5u);
  for (const auto& j : jobs) EXPECT_LE(j.texts.size(), 2u);
  EXPECT_EQ(b->slots.size(), 5u);
  EXPECT_EQ(b->docs[0].chunks[0].slot, b->docs[2].chunks[0].slot);  // "a" twice: one slot
  EXPECT_EQ(b->docs[1].chunks[0].slot, b->docs[5].chunks[0].slot);
}

TEST_F(IngestEmbedPlan, TheCacheAndEarlierBatchesInFlightAreUsedFirst) {
  book_->store_embeddings(emb_.identity(), {{hash_hex("cached"), std::vector<float>(16, 0.25f)}});
  embed_planner planner(*book_, emb_.identity(), 8, 1000);
  auto first = batch_of({"cached", "fresh"});
  std::int64_t hits = 0;
  auto jobs = planner.plan(first, hits);
  EXPECT_EQ(hits, 1);
  ASSERT_EQ(texts_in(jobs), 1u);
  EXPECT_EQ(jobs[0].texts[0], "fresh");
  EXPECT_EQ(first->slots[first->docs[0].chunks[0].slot]->values, std::vector<float>(16, 0.25f));

  // "fresh" is still in flight (the first batch is alive): a second batch shares its slot.
  auto second = batch_of({"fresh"});
  auto more = planner.plan(second, hits);
  EXPECT_TRUE(more.empty());
  EXPECT_EQ(hits, 2);
  EXPECT_EQ(second->slots[0], first->slots[first->docs[1].chunks[0].slot]);

  // Once both batches are gone, a text that never reached the cache is embedded again.
  jobs.clear();
  first.reset();
  second.reset();
  auto third = batch_of({"fresh"});
  EXPECT_EQ(texts_in(planner.plan(third, hits)), 1u);
  EXPECT_EQ(hits, 2);
}

TEST_F(IngestEmbedPlan, AJobFillsItsSlotsAndTheCache) {
  embed_planner planner(*book_, emb_.identity(), 8, 1000);
  auto b = batch_of({"one", "two", "three"});
  std::int64_t hits = 0;
  auto jobs = planner.plan(b, hits);
  ASSERT_EQ(jobs.size(), 1u);
  std::size_t stored = 0;
  auto n = run_embed_jobs(
      emb_, emb_.identity(), jobs,
      [&](std::span<const embedding_ref> fresh) {
        book_->store_embeddings(emb_.identity(), fresh);
        stored += fresh.size();
      },
      nullptr);
  EXPECT_EQ(n, 3u);
  EXPECT_EQ(stored, 3u);
  for (const auto& d : b->docs) {
    const auto& values = b->slots[d.chunks[0].slot]->values;
    EXPECT_EQ(values, emb_.embed_one(d.chunks[0].c.text));
    EXPECT_EQ(book_->cached_embedding(emb_.identity(), d.chunks[0].c.text_hash), values);
  }
}

TEST_F(IngestEmbedPlan, JobsOfTwoBatchesGoInOneCallAndFillEachBatch) {
  embed_planner planner(*book_, emb_.identity(), 8, 1000);
  auto first = batch_of({"one", "two"});
  auto second = batch_of({"three"});
  std::int64_t hits = 0;
  auto jobs = planner.plan(first, hits);
  for (auto& j : planner.plan(second, hits)) jobs.push_back(std::move(j));
  ASSERT_EQ(jobs.size(), 2u);
  const auto calls = emb_.calls();
  auto n = run_embed_jobs(
      emb_, emb_.identity(), jobs, [](std::span<const embedding_ref>) {}, nullptr);
  EXPECT_EQ(n, 3u);
  EXPECT_EQ(emb_.calls() - calls, 1);
  for (const auto& b : {first, second})
    for (const auto& d : b->docs)
      EXPECT_EQ(b->slots[d.chunks[0].slot]->values, emb_.embed_one(d.chunks[0].c.text));
}

TEST_F(IngestEmbedPlan, AVectorOfTheWrongDimensionIsRefused) {
  broken_embedder wrong(true);
  embed_planner planner(*book_, wrong.identity(), 8, 1000);
  auto b = batch_of({"one"});
  std::int64_t hits = 0;
  auto jobs = planner.plan(b, hits);
  std::size_t stored = 0;
  auto store = [&](std::span<const embedding_ref> fresh) { stored += fresh.size(); };
  EXPECT_THROW(run_embed_jobs(wrong, wrong.identity(), jobs, store, nullptr), embed_error);
  EXPECT_EQ(stored, 0u);
}

TEST_F(IngestEmbedPlan, WhatArrivedBeforeAFailureIsKept) {
  broken_embedder failing(false);
  embed_planner planner(*book_, failing.identity(), 8, 1000);
  auto b = batch_of({"one", "two", "three", "four"});
  std::int64_t hits = 0;
  auto jobs = planner.plan(b, hits);
  auto store = [&](std::span<const embedding_ref> fresh) {
    book_->store_embeddings(failing.identity(), fresh);
  };
  EXPECT_THROW(run_embed_jobs(failing, failing.identity(), jobs, store, nullptr), embed_error);
  EXPECT_EQ(book_->cached_embedding_count(failing.identity()), 2);
  EXPECT_TRUE(book_->cached_embedding(failing.identity(), hash_hex("two")).has_value());
  EXPECT_FALSE(book_->cached_embedding(failing.identity(), hash_hex("three")).has_value());
}
