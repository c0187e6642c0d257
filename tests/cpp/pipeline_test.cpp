// The pipeline end to end on an in-memory source, the local index and the hashing embedder.
#include "backfill/pipeline.hpp"

#include <gtest/gtest.h>

#include <filesystem>
#include <map>

#include <simdjson.h>

#include "backfill/errors.hpp"
#include "backfill/local_index.hpp"

namespace fs = std::filesystem;
using namespace backfill;

namespace {

// Pages are JSON arrays of {"id","text","updated"}; each partition has the pages given.
class memory_source final : public source {
 public:
  std::map<std::string, std::vector<std::string>> partitions;
  int pages_read = 0;

  std::string kind() const override { return "memory"; }
  std::string describe() const override { return "memory source"; }
  std::vector<partition_plan> plan(run_context&) override {
    std::vector<partition_plan> out;
    for (auto& [name, pages] : partitions)
      out.push_back({name, name, -1, static_cast<std::int64_t>(pages.size())});
    return out;
  }
  void fetch(const partition_plan& p, std::string_view cursor, page_sink& out, run_context& ctx) override {
    auto& pages = partitions.at(p.name);
    std::size_t start = cursor.empty() ? 0 : std::stoul(std::string(cursor));
    for (std::size_t i = start; i < pages.size(); ++i) {
      ctx.checkpoint();
      ++pages_read;
      out.page(pages[i], 1, i + 1 < pages.size() ? std::to_string(i + 1) : "");
    }
  }
  void page_items(std::string_view, const std::string& body, const item_fn& fn) override {
    simdjson::dom::parser parser;
    simdjson::dom::element doc;
    if (parser.parse(body).get(doc)) throw source_error("bad page");
    for (auto item : doc.get_array()) fn(std::string(item["id"].get_string().value()));
  }
  void normalize(std::string_view partition, page_reader& pages, const document_fn& emit, run_context&) override {
    pages.for_each([&](std::int64_t, const std::string& body, const std::string&) {
      simdjson::dom::parser parser;
      simdjson::dom::element doc;
      if (parser.parse(body).get(doc)) throw source_error("bad page");
      for (auto item : doc.get_array()) {
        document d;
        d.id = std::string(item["id"].get_string().value());
        d.source = "memory";
        d.partition = std::string(partition);
        d.title = "T " + d.id;
        d.text = std::string(item["text"].get_string().value());
        d.updated_at = std::string(item["updated"].get_string().value());
        d.meta.set("kind", std::string("test"));
        emit(std::move(d));
      }
    });
  }
};

struct fixture {
  fs::path dir;
  std::shared_ptr<memory_source> src = std::make_shared<memory_source>();
  std::shared_ptr<hash_embedder> emb = std::make_shared<hash_embedder>(32);
  std::shared_ptr<local_index> idx;
  std::unique_ptr<pipeline> p;
  run_context ctx;

  explicit fixture(const std::string& name) {
    dir = fs::temp_directory_path() / ("backfill-pipeline-" + name + "-" + std::to_string(::getpid()));
    fs::remove_all(dir);
    idx = std::make_shared<local_index>(dir / "index.sqlite", "ns");
    reopen();
  }
  ~fixture() { fs::remove_all(dir); }
  void reopen() {
    p.reset();
    pipeline_options o;
    o.workdir = dir;
    o.chunking.target_tokens = 16;
    o.chunking.overlap_tokens = 2;
    o.batch_records = 4;
    p = std::make_unique<pipeline>(src, emb, idx, o);
  }
};

std::string page(std::initializer_list<std::tuple<const char*, const char*, const char*>> items) {
  std::string out = "[";
  for (auto& [id, text, upd] : items) {
    if (out.size() > 1) out += ",";
    out += std::string("{\"id\":\"") + id + "\",\"text\":\"" + text + "\",\"updated\":\"" + upd + "\"}";
  }
  return out + "]";
}

}  // namespace

TEST(Pipeline, RunsAllPhasesAndVerifies) {
  fixture f("all");
  f.src->partitions["a"] = {page({{"d1", "alpha beta gamma", "1"}, {"d2", "delta", "1"}}),
                            page({{"d3", "epsilon zeta eta theta iota kappa lambda mu nu xi omicron pi", "1"}})};
  f.src->partitions["b"] = {page({{"d4", "rho", "1"}})};
  auto fr = f.p->fetch(f.ctx);
  EXPECT_EQ(fr.pages_fetched, 3);
  auto vr = f.p->validate(f.ctx);
  EXPECT_EQ(vr.items, 4);
  EXPECT_TRUE(vr.bad_pages.empty());
  auto ir = f.p->ingest(f.ctx);
  EXPECT_EQ(ir.documents_written, 4);
  EXPECT_GT(ir.chunks_written, 4);  // d3 is long enough for several chunks
  auto ver = f.p->verify(f.ctx);
  EXPECT_TRUE(ver.ok);
  EXPECT_EQ(ver.checked, ir.chunks_written);
  EXPECT_EQ(f.idx->stats().count, ir.chunks_written);

  // A second run does nothing at all.
  auto fr2 = f.p->fetch(f.ctx);
  EXPECT_EQ(fr2.pages_fetched, 0);
  auto ir2 = f.p->ingest(f.ctx);
  EXPECT_EQ(ir2.documents_unchanged, 4);
  EXPECT_EQ(ir2.chunks_written, 0);
  EXPECT_EQ(ir2.embed_calls, 0);
}

TEST(Pipeline, ChangedDocumentReplacesItsChunksAndDeletesStaleOnes) {
  fixture f("changed");
  f.src->partitions["a"] = {
      page({{"d1", "one two three four five six seven eight nine ten eleven twelve thirteen fourteen", "1"}})};
  f.p->fetch(f.ctx);
  auto first = f.p->ingest(f.ctx);
  ASSERT_GT(first.chunks_written, 1);
  auto before = f.idx->list("d1#", "", 100);

  f.src->partitions["a"] = {page({{"d1", "short now", "2"}})};
  f.p->fetch(f.ctx, {"a"});
  auto second = f.p->ingest(f.ctx);
  EXPECT_EQ(second.documents_written, 1);
  EXPECT_EQ(second.chunks_written, 1);
  EXPECT_EQ(second.stale_chunks_deleted, static_cast<std::int64_t>(before.size()) - 1);
  EXPECT_EQ(f.idx->list("d1#", "", 100), std::vector<std::string>{"d1#0"});
  EXPECT_TRUE(f.p->verify(f.ctx).ok);
}

TEST(Pipeline, DuplicatesKeepTheLatestAndRerunsAreStable) {
  fixture f("dups");
  f.src->partitions["a"] = {page({{"d1", "old text", "1"}}), page({{"d1", "new text", "5"}, {"d2", "x", "1"}}),
                            page({{"d1", "stale text", "3"}})};
  f.p->fetch(f.ctx);
  auto vr = f.p->validate(f.ctx);
  EXPECT_EQ(vr.duplicate_ids, 1);
  ASSERT_EQ(vr.duplicates.size(), 1u);
  EXPECT_EQ(vr.duplicates[0].id, "d1");
  EXPECT_EQ(vr.duplicates[0].pages.size(), 3u);
  f.p->ingest(f.ctx);
  auto got = f.idx->fetch({"d1#0"});
  ASSERT_EQ(got.size(), 1u);
  EXPECT_NE(got[0].metadata_json.find("new text"), std::string::npos);
  auto again = f.p->ingest(f.ctx);
  EXPECT_EQ(again.documents_written, 0);
  EXPECT_EQ(again.chunks_written, 0);
  EXPECT_TRUE(f.p->verify(f.ctx).ok);
}

TEST(Pipeline, ResumesFetchAtTheRecordedCursor) {
  fixture f("resume");
  f.src->partitions["a"] = {page({{"d1", "a", "1"}}), page({{"d2", "b", "1"}}), page({{"d3", "c", "1"}})};
  int ticks = 0;
  run_context stopping([&](const progress& p) { return p.phase == "fetch" && p.done >= 1 && ++ticks > 0; },
                       std::chrono::milliseconds(0));
  EXPECT_THROW(f.p->fetch(stopping), cancelled);
  int read_first = f.src->pages_read;
  EXPECT_GE(read_first, 1);
  EXPECT_LT(read_first, 3);
  f.reopen();
  auto fr = f.p->fetch(f.ctx);
  EXPECT_EQ(fr.pages_fetched, 3 - read_first);
  EXPECT_EQ(f.src->pages_read, 3);
  EXPECT_EQ(fr.pages_total, 3);
}

TEST(Pipeline, DamagedPageIsRefusedByIngestAndReportedByValidate) {
  fixture f("damaged");
  f.src->partitions["a"] = {page({{"d1", "alpha", "1"}})};
  f.p->fetch(f.ctx);
  auto path = f.dir / "journal" / "memory" / "a" / "00000000.json";
  ASSERT_TRUE(fs::exists(path));
  fs::resize_file(path, 5);
  auto vr = f.p->validate(f.ctx);
  ASSERT_EQ(vr.bad_pages.size(), 1u);
  EXPECT_NE(vr.bad_pages[0].problem.find("--refetch a"), std::string::npos);
  EXPECT_THROW(f.p->ingest(f.ctx), journal_error);
  EXPECT_EQ(f.idx->stats().count, 0);
}

TEST(Pipeline, DimensionMismatchIsAClearConfigError) {
  fixture f("dim");
  f.idx->upsert({record{"other", std::vector<float>(8, 0.5f), "{}"}});
  f.src->partitions["a"] = {page({{"d1", "alpha", "1"}})};
  f.p->fetch(f.ctx);
  try {
    f.p->ingest(f.ctx);
    FAIL() << "expected config_error";
  } catch (const config_error& e) {
    EXPECT_NE(std::string(e.what()).find("dimension 8"), std::string::npos) << e.what();
  }
}

TEST(Pipeline, VerifyNamesMissingRecords) {
  fixture f("missing");
  f.src->partitions["a"] = {page({{"d1", "alpha", "1"}, {"d2", "beta", "1"}})};
  f.p->fetch(f.ctx);
  f.p->ingest(f.ctx);
  f.idx->remove({"d2#0"});
  auto r = f.p->verify(f.ctx);
  EXPECT_FALSE(r.ok);
  EXPECT_FALSE(r.count_ok);
  EXPECT_EQ(r.missing, std::vector<std::string>{"d2#0"});
}
