// The run's memory budget: what it lets through, and the pipeline's stages held to it.
#include "backfill/core/memory_budget.hpp"

#include <gtest/gtest.h>
#include <simdjson.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <string>
#include <thread>

#include "backfill/core/errors.hpp"
#include "backfill/embed/embedder.hpp"
#include "backfill/pipeline/pipeline.hpp"
#include "backfill/sinks/local/local_index.hpp"

using namespace backfill;
namespace fs = std::filesystem;

TEST(MemoryBudget, ATakerWaitsUntilItsBytesFitAndOneLargerThanTheBudgetGoesAlone) {
  memory_budget budget(100);
  run_context ctx;
  auto a = budget.take(60, ctx);
  std::atomic<bool> got{false};
  std::thread t([&] {
    auto b = budget.take(60, ctx);  // does not fit beside a
    got = true;
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  EXPECT_FALSE(got.load());
  a.release();
  t.join();
  EXPECT_TRUE(got.load());
  EXPECT_EQ(budget.held(), 0u);
  EXPECT_EQ(budget.peak(), 60u);
  EXPECT_EQ(budget.waits(), 1);
  {
    auto huge = budget.take(1000, ctx);  // nothing else held: through, alone
    EXPECT_EQ(budget.held(), 1000u);
    EXPECT_FALSE(budget.try_take(1).has_value());
  }
  EXPECT_TRUE(budget.try_take(100).has_value());
  EXPECT_EQ(budget.held(), 0u);  // the lease above was a temporary
}

TEST(MemoryBudget, AStopEndsTheWait) {
  memory_budget budget(10);
  run_context ctx;
  auto a = budget.take(10, ctx);
  run_context stopping;
  stopping.request_stop();
  EXPECT_THROW(budget.take(5, stopping), cancelled);
  EXPECT_EQ(budget.held(), 10u);
}

namespace {

// One partition of pages of {"id","text"} items, each page `items` documents of `text_bytes`.
class page_source final : public source {
 public:
  int pages = 0, items = 0, text_bytes = 0;
  std::string kind() const override { return "pages"; }
  std::string describe() const override { return "pages"; }
  std::vector<partition_plan> plan(run_context&) override { return {{"p", "p", -1, pages}}; }
  void fetch(const partition_plan&, std::string_view cursor, page_sink& out, run_context&) override {
    for (int i = cursor.empty() ? 0 : std::stoi(std::string(cursor)); i < pages; ++i)
      out.page(body(i), items, i + 1 < pages ? std::to_string(i + 1) : "");
  }
  bool pages_self_contained() const override { return true; }
  void page_items(std::string_view, const std::string& b, const item_fn& fn) override {
    simdjson::dom::parser parser;
    for (auto item : parser.parse(b).get_array()) fn(std::string(item["id"].get_string().value()));
  }
  void normalize(std::string_view partition, page_reader& reader, const document_fn& emit,
                 run_context&) override {
    reader.for_each([&](std::int64_t, const std::string& b, const std::string&) {
      simdjson::dom::parser parser;
      for (auto item : parser.parse(b).get_array()) {
        document d;
        d.id = std::string(item["id"].get_string().value());
        d.source = "pages";
        d.partition = std::string(partition);
        d.title = d.id;
        d.text = std::string(item["text"].get_string().value());
        d.updated_at = "2024-01-01";
        emit(std::move(d));
      }
    });
  }

 private:
  std::string body(int page) const {
    std::string out = "[";
    for (int k = 0; k < items; ++k) {
      if (k) out += ",";
      out += "{\"id\":\"d" + std::to_string(page * items + k) + "\",\"text\":\"";
      for (int w = 0; w < text_bytes / 8; ++w) out += "word" + std::to_string(1000 + w % 1000) + " ";
      out += "\"}";
    }
    return out + "]";
  }
};

}  // namespace

// 600 documents of one chunk at dimension 1536 are ~4 MB of vectors: batches of up to 1000 records
// would hold all of them at once; a budget of 1 MB closes batches by bytes and holds the stages to it.
TEST(MemoryBudget, ThePipelineHoldsNoMoreBytesAtOnceThanTheBudget) {
  for (bool overlap : {true, false}) {
    const fs::path dir = fs::temp_directory_path() /
                         ("backfill-budget-" + std::to_string(overlap) + "-" + std::to_string(::getpid()));
    fs::remove_all(dir);
    auto src = std::make_shared<page_source>();
    src->pages = 6;
    src->items = 100;
    src->text_bytes = 200;
    auto idx = std::make_shared<local_index>(dir / "index.sqlite", "ns");
    pipeline_options o;
    o.workdir = dir / "work";
    o.overlap = overlap;
    o.memory_budget_mb = 1;
    pipeline p(src, std::make_shared<hash_embedder>(1536), idx, o);
    run_context ctx;
    auto r = p.fetch_and_ingest(ctx);
    EXPECT_EQ(r.ingest.documents_written, 600);
    EXPECT_GT(r.ingest.memory_peak_bytes, 0);
    EXPECT_LE(r.ingest.memory_peak_bytes, std::int64_t{1} << 20);
    EXPECT_GT(r.fetch.memory_peak_bytes, 0);
    EXPECT_GE(r.ingest.upsert_requests, 6);  // a batch is ~a quarter of the budget, not 1000 records
    EXPECT_TRUE(p.verify(ctx).ok);
    fs::remove_all(dir);
  }
}
