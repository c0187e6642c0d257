// The pipeline end to end on an in-memory source, the local index and the hashing embedder.
#include "backfill/pipeline/pipeline.hpp"
#include "backfill/pipeline/restore.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <filesystem>
#include <map>
#include <mutex>
#include <thread>
#include <vector>

#include <simdjson.h>

#include "backfill/core/errors.hpp"
#include "backfill/sinks/local/local_index.hpp"

namespace fs = std::filesystem;
using namespace backfill;

namespace {

// Pages are JSON arrays of {"id","text","updated"}; each partition has the pages given.
class memory_source final : public source {
 public:
  std::map<std::string, std::vector<std::string>> partitions;
  std::atomic<int> pages_read{0};
  bool self_contained = false;
  int page_delay_ms = 0;
  std::string fail_partition;                 // fetch throws a source_error on its first page
  std::atomic<int> active{0}, max_active{0};  // partitions being fetched at once
  std::chrono::steady_clock::time_point last_page_at{};
  std::mutex mutex_;

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
    if (cursor == "end") return;
    if (cursor == "requery") {
      ++pages_read;
      out.page(requery_pages.at(p.name), 1, "");
      return;
    }
    std::size_t start = cursor.empty() ? 0 : std::stoul(std::string(cursor));
    if (p.name == fail_partition) throw source_error("partition " + p.name + " cannot be read");
    int now = ++active;
    int seen = max_active.load();
    while (now > seen && !max_active.compare_exchange_weak(seen, now)) {
    }
    struct leave {
      std::atomic<int>& a;
      ~leave() { --a; }
    } guard{active};
    for (std::size_t i = start; i < pages.size(); ++i) {
      ctx.checkpoint();
      if (page_delay_ms) std::this_thread::sleep_for(std::chrono::milliseconds(page_delay_ms));
      ++pages_read;
      std::lock_guard<std::mutex> lock(mutex_);
      last_page_at = std::chrono::steady_clock::now();
      out.page(pages[i], 1, i + 1 < pages.size() ? std::to_string(i + 1) : "");
    }
  }
  // As the sources that count do: a step per partition, so the plan's last pass has its progress.
  std::vector<std::int64_t> estimate_done;  // the done counter as each partition's estimate began
  void estimate(std::vector<partition_plan>& planned, run_context& ctx) override {
    std::int64_t n = 0;
    for (auto& p : planned) {
      ctx.step(p.name, n++);
      estimate_done.push_back(ctx.state().done);
    }
  }
  bool pages_self_contained() const override { return self_contained; }
  // With `requeries`: incremental (a reopened partition has nothing new), and quarantined items are
  // asked for again alone: that fetch journals requery_pages[partition] and ends.
  bool requeries = false;
  std::map<std::string, std::string> requery_pages;
  std::vector<std::string> requeried_ids;
  bool incremental() const override { return requeries; }
  bool requeries_items() const override { return requeries; }
  std::string reopen_cursor(const partition_plan&, std::string_view) override { return "end"; }
  std::string requery_cursor(const partition_plan&, std::string_view,
                             const std::vector<std::string>& ids) override {
    requeried_ids = ids;
    return "requery";
  }
  bool quarantines = false;  // lays out its items for the pipeline's quarantine (and passes over nulls)
  json::item_layout journal_items(std::string_view) const override {
    return quarantines ? json::item_layout{"", "id", ""} : json::item_layout{};
  }
  bool can_list_ids() const override { return true; }
  void list_ids(const partition_plan& p, const item_fn& fn, run_context&) override {
    for (const auto& body : partitions.at(p.name)) page_items(p.name, body, fn);
  }
  std::atomic<int> pages_listed{0};  // page_items calls
  void page_items(std::string_view, const std::string& body, const item_fn& fn) override {
    ++pages_listed;
    simdjson::dom::parser parser;
    simdjson::dom::element doc;
    if (parser.parse(body).get(doc)) throw source_error("bad page");
    for (auto item : doc.get_array()) {
      std::string_view id;
      if (!quarantines)
        fn(std::string(item["id"].get_string().value()));
      else if (!item.is_null() && !item["id"].get(id))
        fn(id);
    }
  }
  void normalize(std::string_view partition, page_reader& pages, const document_fn& emit,
                 run_context& ctx) override {
    pages.for_each([&](std::int64_t, const std::string& body, const std::string&) {
      simdjson::dom::parser parser;
      simdjson::dom::element doc;
      if (parser.parse(body).get(doc)) throw source_error("bad page");
      std::size_t position = 0;
      for (auto item : doc.get_array()) {
        const std::size_t at = position++;
        if (quarantines && item.is_null()) continue;
        std::string_view id;
        if (quarantines && item["id"].get(id)) {
          pages.skip_item(at, "", "the item has no \"id\"");
          continue;
        }
        document d;
        d.id = std::string(item["id"].get_string().value());
        d.source = "memory";
        d.partition = std::string(partition);
        d.title = "T " + d.id;
        d.text = std::string(item["text"].get_string().value());
        d.updated_at = std::string(item["updated"].get_string().value());
        d.meta.set("kind", std::string("test"));
        std::string_view odd;  // a value this source cannot read: left out, with a warning
        if (!item["odd"].get(odd)) ctx.warn(std::string(odd), d.id + " has an odd " + std::string(odd));
        emit(std::move(d));
      }
    });
  }
};

// The hashing embedder behind a delay, counting calls in flight; fails on call `fail_on` (1-based).
class slow_embedder final : public embedder {
 public:
  explicit slow_embedder(int delay_ms, std::size_t concurrency = 3)
      : delay_ms_(delay_ms), concurrency_(concurrency) {}
  std::string identity() const override { return inner_.identity(); }
  int dimension() const override { return inner_.dimension(); }
  std::size_t max_batch() const override { return 4; }
  std::size_t concurrency() const override { return concurrency_; }
  std::vector<std::vector<float>> embed(const std::vector<std::string_view>& texts) override {
    int call = ++started_;
    int now = ++in_flight_;
    int seen = max_in_flight_.load();
    while (now > seen && !max_in_flight_.compare_exchange_weak(seen, now)) {
    }
    {
      std::lock_guard<std::mutex> lock(mutex_);
      if (first_call_at == std::chrono::steady_clock::time_point{})
        first_call_at = std::chrono::steady_clock::now();
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(delay_ms_));
    --in_flight_;
    if (call == fail_on) throw embed_error("the embedding service refused call " + std::to_string(call));
    count_call(texts.size());
    std::vector<std::vector<float>> out;
    for (auto t : texts) out.push_back(inner_.embed_one(t));
    return out;
  }
  int max_in_flight() const { return max_in_flight_.load(); }
  int fail_on = 0;
  std::chrono::steady_clock::time_point first_call_at{};

 private:
  hash_embedder inner_{32};
  int delay_ms_;
  std::size_t concurrency_;
  std::atomic<int> started_{0}, in_flight_{0}, max_in_flight_{0};
  std::mutex mutex_;
};

struct fixture {
  fs::path dir;
  std::shared_ptr<memory_source> src = std::make_shared<memory_source>();
  std::shared_ptr<hash_embedder> emb = std::make_shared<hash_embedder>(32);
  std::shared_ptr<local_index> idx;
  std::unique_ptr<pipeline> p;
  run_context ctx;

  std::shared_ptr<embedder> emb_used = emb;
  bool overlap = true;

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
    o.overlap = overlap;
    p = std::make_unique<pipeline>(src, emb_used, idx, o);
  }
  std::map<std::string, std::string> contents() {
    std::map<std::string, std::string> out;
    for (const auto& id : idx->list("", "", 100000))
      for (auto& r : idx->fetch({id})) out[r.id] = r.metadata_json;
    return out;
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

// A run context that keeps every tick.
struct recording_context {
  std::vector<progress> ticks;
  run_context ctx{[this](const progress& p) {
                    ticks.push_back(p);
                    return false;
                  },
                  std::chrono::milliseconds(0)};
};

}  // namespace

TEST(Pipeline, RunsAllPhasesAndVerifies) {
  fixture f("all");
  f.src->partitions["a"] = {
      page({{"d1", "alpha beta gamma", "1"}, {"d2", "delta", "1"}}),
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

TEST(Pipeline, WarningsOfTheSourcesNormalizerReachTheIngestReport) {
  fixture f("warnings");
  f.src->partitions["a"] = {
      R"([{"id":"d1","text":"a","updated":"1","odd":"shape"},{"id":"d2","text":"b","updated":"1"}])",
      R"([{"id":"d3","text":"c","updated":"1","odd":"shape"},{"id":"d4","text":"d","updated":"1","odd":"date"}])"};
  f.p->fetch(f.ctx);
  run_context ingest_ctx;
  auto ir = f.p->ingest(ingest_ctx);
  EXPECT_EQ(ir.documents_written, 4);
  EXPECT_EQ(ir.warnings, 3);
  EXPECT_EQ(ir.warning_examples, (std::vector<std::string>{"d1 has an odd shape", "d4 has an odd date"}));
  run_context again;  // unchanged documents are still read, and their values still left out
  auto ir2 = f.p->ingest(again);
  EXPECT_EQ(ir2.documents_unchanged, 4);
  EXPECT_EQ(ir2.warnings, 3);
  EXPECT_EQ(ir2.warning_examples.size(), 2u);
}

TEST(Pipeline, ChangedDocumentReplacesItsChunksAndDeletesStaleOnes) {
  fixture f("changed");
  f.src->partitions["a"] = {page(
      {{"d1", "one two three four five six seven eight nine ten eleven twelve thirteen fourteen", "1"}})};
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
  f.src->partitions["a"] = {page({{"d1", "old text", "1"}}),
                            page({{"d1", "new text", "5"}, {"d2", "x", "1"}}),
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

// A run's validate counts the pages its ingest just read (checked against their hashes, their item
// ids listed once as they were read) and reads only the others; its report is the one a validate
// reading every page gives.
TEST(Pipeline, ARunsValidateTakesTheIdsItsIngestReadAndReadsOnlyTheRest) {
  fixture f("scan");
  f.src->quarantines = true;
  f.src->partitions["a"] = {page({{"d1", "old", "1"}, {"d2", "two", "1"}}),
                            "[{\"id\":\"d3\",\"text\":\"bad \xff\",\"updated\":\"1\"}]",
                            page({{"d1", "new", "2"}})};
  f.src->partitions["b"] = {page({{"d4", "four", "1"}}), page({{"d5", "five", "1"}})};
  f.p->fetch_and_ingest(f.ctx, {}, true);
  EXPECT_EQ(f.src->pages_listed.load(), 5);  // each page once, as the ingest read it
  const validate_report run = f.p->validate(f.ctx);
  EXPECT_EQ(f.src->pages_listed.load(), 5);  // none read again

  // The next validate has no ingest before it: it reads every page, and reports the same.
  const validate_report whole = f.p->validate(f.ctx);
  EXPECT_EQ(f.src->pages_listed.load(), 10);
  for (const validate_report* r : {&run, &whole}) {
    EXPECT_EQ(r->pages, 5);
    EXPECT_EQ(r->items, 5);  // d3 cannot be read: quarantined
    EXPECT_EQ(r->partitions, 2);
    EXPECT_TRUE(r->bad_pages.empty());
    ASSERT_EQ(r->duplicate_ids, 1);
    EXPECT_EQ(r->duplicates[0].id, "d1");
    EXPECT_EQ(r->duplicates[0].pages, (std::vector<std::string>{"journal/memory/a/00000000.json.zst",
                                                                "journal/memory/a/00000002.json.zst"}));
    ASSERT_EQ(r->quarantined_count, 1);
    EXPECT_EQ(r->quarantined[0].id, "d3");
  }

  // A run's ingest whose pages are refetched before the validate: those are read, the rest are not,
  // and what the ingest listed of the pages replaced (b's first) or gone (b's second) counts no more:
  // d4 and d5, now on one page, are no duplicates.
  f.p->fetch_and_ingest(f.ctx, {}, true);
  const int before = f.src->pages_listed.load();
  f.src->partitions["b"] = {page({{"d4", "four, changed", "2"}, {"d5", "five", "1"}})};
  f.p->fetch(f.ctx, {"b"});
  const validate_report after_refetch = f.p->validate(f.ctx);
  EXPECT_EQ(f.src->pages_listed.load(), before + 1);
  EXPECT_EQ(after_refetch.pages, 4);
  EXPECT_EQ(after_refetch.items, 5);
  ASSERT_EQ(after_refetch.duplicate_ids, 1);
  EXPECT_EQ(after_refetch.duplicates[0].id, "d1");

  // An ingest alone keeps nothing for a validate: the validate reads every page.
  f.p->ingest(f.ctx);
  const int listed = f.src->pages_listed.load();
  f.p->validate(f.ctx);
  EXPECT_EQ(f.src->pages_listed.load(), listed + 4);
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
  auto path = f.dir / "journal" / "memory" / "a" / "00000000.json.zst";
  ASSERT_TRUE(fs::exists(path));
  fs::resize_file(path, 5);
  auto vr = f.p->validate(f.ctx);
  ASSERT_EQ(vr.bad_pages.size(), 1u);
  EXPECT_NE(vr.bad_pages[0].problem.find("--refetch a"), std::string::npos);
  EXPECT_THROW(f.p->ingest(f.ctx), journal_error);
  EXPECT_EQ(f.idx->stats().count, 0);
}

TEST(Pipeline, AnUnreadableItemIsQuarantinedTheRestIsWrittenAndAFixedSourceHealsIt) {
  fixture f("quarantine");
  f.src->quarantines = true;
  const std::string good = page({{"d1", "alpha", "1"}, {"d3", "gamma", "1"}});
  f.src->partitions["a"] = {
      "[{\"id\":\"d1\",\"text\":\"alpha\",\"updated\":\"1\"},"
      "{\"id\":\"d2\",\"text\":\"bad \xff\",\"updated\":\"1\"},"
      "{\"text\":\"no id\",\"updated\":\"1\"},"
      "{\"id\":\"d3\",\"text\":\"gamma\",\"updated\":\"1\"}]"};
  f.src->partitions["b"] = {page({{"d4", "delta", "1"}})};
  f.p->fetch(f.ctx);
  auto vr = f.p->validate(f.ctx);
  EXPECT_TRUE(vr.bad_pages.empty());
  ASSERT_EQ(vr.quarantined_count, 1);  // the unreadable one; the one without an id shows once ingest met it
  EXPECT_EQ(vr.quarantined[0].id, "d2");
  auto ir = f.p->ingest(f.ctx);
  EXPECT_EQ(ir.documents_written, 3);
  ASSERT_EQ(ir.quarantined_count, 2);
  EXPECT_EQ(ir.quarantined[0].partition, "a");
  EXPECT_EQ(ir.quarantined[0].page, "journal/memory/a/00000000.json.zst");
  EXPECT_EQ(ir.quarantined[0].position, 1);
  EXPECT_EQ(ir.quarantined[0].id, "d2");
  EXPECT_NE(ir.quarantined[0].reason.find("UTF-8"), std::string::npos);
  EXPECT_EQ(ir.quarantined[1].position, 2);
  EXPECT_NE(ir.quarantined[1].reason.find("no \"id\""), std::string::npos);
  EXPECT_EQ(f.p->validate(f.ctx).quarantined_count, 2);

  // The source fixes both: the partition that held them is fetched again, the rest is not.
  f.src->partitions["a"] = {
      page({{"d1", "alpha", "1"}, {"d2", "beta", "1"}, {"d5", "eps", "1"}, {"d3", "gamma", "1"}})};
  f.src->pages_read = 0;
  auto fr = f.p->fetch(f.ctx);
  EXPECT_EQ(fr.pages_fetched, 1);
  auto ir2 = f.p->ingest(f.ctx);
  EXPECT_EQ(ir2.quarantined_count, 0);
  EXPECT_EQ(ir2.documents_written, 2);
  EXPECT_EQ(ir2.documents_unchanged, 3);
  EXPECT_TRUE(f.p->verify(f.ctx).ok);
  (void)good;
}

TEST(Pipeline, AQuarantinedItemIsAskedForAloneAndALaterPageThatReadsItEndsItsQuarantine) {
  fixture f("requery");
  f.src->quarantines = true;
  f.src->requeries = true;
  const std::string bad = "{\"id\":\"d2\",\"text\":\"bad \xff\",\"updated\":\"1\"}";
  f.src->partitions["a"] = {page({{"d1", "alpha", "1"}}), "[" + bad + "]", page({{"d3", "gamma", "1"}})};
  f.src->partitions["b"] = {page({{"d4", "delta", "1"}})};
  f.p->fetch(f.ctx);
  ASSERT_EQ(f.p->ingest(f.ctx).quarantined_count, 1);

  // Still bad: one page asked for (the item), not the partition's three; quarantined once, not twice.
  f.src->requery_pages["a"] = "[" + bad + "]";
  f.src->pages_read = 0;
  EXPECT_EQ(f.p->fetch(f.ctx).pages_fetched, 1);
  EXPECT_EQ(f.src->requeried_ids, std::vector<std::string>{"d2"});
  auto still = f.p->ingest(f.ctx);
  ASSERT_EQ(still.quarantined_count, 1);
  EXPECT_EQ(still.quarantined[0].page, "journal/memory/a/00000003.json.zst");
  EXPECT_EQ(f.p->validate(f.ctx).quarantined_count, 1);

  // Fixed: the page that reads it ends its quarantine; the next fetch asks for nothing.
  f.src->requery_pages["a"] = page({{"d2", "beta", "2"}});
  EXPECT_EQ(f.p->fetch(f.ctx).pages_fetched, 1);
  auto fixed = f.p->ingest(f.ctx);
  EXPECT_EQ(fixed.quarantined_count, 0);
  EXPECT_EQ(fixed.documents_written, 1);
  EXPECT_EQ(f.p->validate(f.ctx).quarantined_count, 0);
  EXPECT_TRUE(f.p->verify(f.ctx).ok);
  f.src->requeried_ids.clear();
  EXPECT_EQ(f.p->fetch(f.ctx).pages_fetched, 0);
  EXPECT_TRUE(f.src->requeried_ids.empty());
}

TEST(Pipeline, ARestoreListsOnlyTheSourcesIdPrefix) {
  fixture f("restore-prefix");
  f.src->partitions["a"] = {page({{"d1", "alpha", "1"}, {"d2", "beta", "1"}})};
  f.p->fetch(f.ctx);
  f.p->ingest(f.ctx);
  record other;
  other.id = "x:1";
  other.values.assign(32, 0.5f);
  other.metadata_json = "{}";
  f.idx->upsert({other});
  const std::int64_t ours = f.idx->stats().count - 1;
  ledger fresh(f.dir / "fresh.sqlite");
  auto all = restore_from_sink(*f.idx, fresh, "memory", f.emb->identity(), 32, f.ctx);
  EXPECT_EQ(all.listed, ours + 1);
  EXPECT_EQ(all.chunks, ours);
  // Its progress counts against the sink's count; the listing ends short of it (the prefix), and
  // the total becomes what it listed.
  recording_context rec;
  auto& ticks = rec.ticks;
  auto& ctx = rec.ctx;
  auto mine = restore_from_sink(*f.idx, fresh, "memory", f.emb->identity(), 32, ctx, "d", ours + 1);
  EXPECT_EQ(mine.listed, ours);
  EXPECT_EQ(mine.documents, 2);
  ASSERT_FALSE(ticks.empty());
  EXPECT_EQ(ticks.front().phase, "restore");
  EXPECT_EQ(ticks.front().total, ours + 1);
  for (const auto& t : ticks) EXPECT_LE(t.done, t.total);
  EXPECT_EQ(ctx.state().total, ours);
  EXPECT_EQ(ctx.state().done, ours);
}

// Each pass of the plan has its total once the partitions are listed: the listing (partitions), the
// sample (its pages, at most 3 a partition) and the estimate (partitions), each ending complete.
TEST(Pipeline, EveryPassOfThePlanHasATotal) {
  fixture f("plan-progress");
  const std::string p1 = page({{"d1", "alpha", "1"}});
  f.src->partitions["a"] = {p1, p1, p1, p1, p1};
  f.src->partitions["b"] = {p1};
  f.src->partitions["c"] = {p1, p1};
  recording_context rec;
  auto& ticks = rec.ticks;
  auto& ctx = rec.ctx;
  f.p->plan_with_estimates(ctx);
  // Each pass's last counters, in order.
  std::vector<progress> ends;
  for (const auto& t : ticks) {
    EXPECT_EQ(t.phase, "plan");
    EXPECT_LE(t.done, t.total < 0 ? t.done : t.total) << t.unit;
    if (!ends.empty() && ends.back().unit == t.unit)
      ends.back() = t;
    else
      ends.push_back(t);
  }
  ASSERT_EQ(ends.size(), 3u);
  EXPECT_EQ(ends[0].unit, "partitions");
  EXPECT_EQ(ends[0].total, 3);
  EXPECT_EQ(ends[0].done, 3);
  EXPECT_EQ(ends[1].unit, "sample pages");
  EXPECT_EQ(ends[1].total, 3 + 1 + 2);  // at most 9, lowered to what the sample read
  EXPECT_EQ(ends[1].done, 3 + 1 + 2);
  EXPECT_EQ(ends[2].unit, "partitions");
  EXPECT_EQ(ends[2].total, 3);
  EXPECT_EQ(ends[2].done, 3);
  EXPECT_EQ(f.src->estimate_done, (std::vector<std::int64_t>{0, 1, 2}));
  const auto sampling =
      std::find_if(ticks.begin(), ticks.end(), [](const progress& t) { return t.unit == "sample pages"; });
  ASSERT_NE(sampling, ticks.end());
  EXPECT_EQ(sampling->total, 9);  // known before the first page is read
  EXPECT_EQ(sampling->done, 0);
}

TEST(Pipeline, StrictStopsAtTheFirstUnreadableItem) {
  fixture f("strict");
  f.src->quarantines = true;
  f.src->partitions["a"] = {"[{\"id\":\"d1\",\"text\":\"bad \xff\",\"updated\":\"1\"}]"};
  f.p->fetch(f.ctx);
  pipeline_options o = f.p->options();
  o.strict = true;
  f.p = std::make_unique<pipeline>(f.src, f.emb, f.idx, o);
  EXPECT_THROW(f.p->ingest(f.ctx), source_error);
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

namespace {

std::vector<std::string> many_pages(int pages, int per_page, const std::string& prefix,
                                    const std::string& version) {
  std::vector<std::string> out;
  for (int p = 0; p < pages; ++p) {
    std::string body = "[";
    for (int i = 0; i < per_page; ++i) {
      std::string id = prefix + std::to_string(p * per_page + i);
      if (i) body += ",";
      body += "{\"id\":\"" + id + "\",\"text\":\"words of " + id + " in version " + version +
              " with enough text for two chunks of sixteen tokens each and some more words\",\"updated\":\"" +
              version + "\"}";
    }
    out.push_back(body + "]");
  }
  return out;
}

}  // namespace

TEST(Pipeline, OverlappedRunWritesExactlyWhatTheSequentialRunWrites) {
  std::map<std::string, std::string> got[2];
  for (int overlapped = 0; overlapped < 2; ++overlapped) {
    fixture f(overlapped ? "ovl-on" : "ovl-off");
    f.overlap = overlapped == 1;
    f.src->self_contained = true;
    f.src->partitions["a"] = many_pages(6, 5, "a", "1");
    f.src->partitions["b"] = many_pages(4, 5, "b", "1");
    f.reopen();
    auto r = f.p->fetch_and_ingest(f.ctx);
    EXPECT_EQ(r.fetch.pages_fetched, 10);
    EXPECT_EQ(r.ingest.documents_written, 50);
    EXPECT_TRUE(f.p->verify(f.ctx).ok);
    got[overlapped] = f.contents();
    // A rerun fetches and writes nothing.
    auto again = f.p->fetch_and_ingest(f.ctx);
    EXPECT_EQ(again.fetch.pages_fetched, 0);
    EXPECT_EQ(again.ingest.documents_unchanged, 50);
    EXPECT_EQ(again.ingest.chunks_written, 0);
  }
  EXPECT_GT(got[0].size(), 50u);
  EXPECT_EQ(got[0], got[1]);
}

TEST(Pipeline, IngestFollowsTheFetchAndEmbedCallsRunConcurrently) {
  fixture f("follow");
  auto slow = std::make_shared<slow_embedder>(30, 3);
  f.emb_used = slow;
  f.src->self_contained = true;
  f.src->page_delay_ms = 40;
  f.src->partitions["a"] = many_pages(12, 6, "a", "1");
  f.reopen();
  auto r = f.p->fetch_and_ingest(f.ctx);
  EXPECT_EQ(r.ingest.documents_written, 72);
  EXPECT_TRUE(f.p->verify(f.ctx).ok);
  EXPECT_LT(slow->first_call_at, f.src->last_page_at);  // embedding began while pages were still coming
  EXPECT_GE(slow->max_in_flight(), 2);
  EXPECT_LE(slow->max_in_flight(), 3);
}

TEST(Pipeline, ALaterVersionInALaterBatchWinsWhenOverlapped) {
  fixture f("later");
  f.emb_used = std::make_shared<slow_embedder>(5, 4);
  f.src->self_contained = true;
  auto pages = many_pages(3, 4, "d", "1");
  auto newer = many_pages(1, 4, "d", "2");  // d0..d3 again, later
  pages.push_back(newer[0]);
  f.src->partitions["a"] = pages;
  f.reopen();
  auto r = f.p->fetch_and_ingest(f.ctx);
  EXPECT_TRUE(f.p->verify(f.ctx).ok);
  for (const char* id : {"d0#0", "d3#0"}) {
    auto got = f.idx->fetch({id});
    ASSERT_EQ(got.size(), 1u) << id;
    EXPECT_NE(got[0].metadata_json.find("in version 2"), std::string::npos) << got[0].metadata_json;
  }
  EXPECT_EQ(r.ingest.documents_written, 16);  // 12 + the 4 newer versions
}

TEST(Pipeline, AnEmbedFailureStopsTheRunAndTheRerunPaysOnlyForWhatWasNotCached) {
  fixture f("embedfail");
  auto slow = std::make_shared<slow_embedder>(5, 2);
  slow->fail_on = 5;
  f.emb_used = slow;
  f.src->self_contained = true;
  f.src->partitions["a"] = many_pages(5, 4, "e", "1");
  f.reopen();
  EXPECT_THROW(f.p->fetch_and_ingest(f.ctx), embed_error);
  std::int64_t cached = f.p->state().cached_embedding_count(slow->identity());
  EXPECT_GT(cached, 0);
  slow->fail_on = 0;
  auto r = f.p->fetch_and_ingest(f.ctx);
  EXPECT_TRUE(f.p->verify(f.ctx).ok);
  // Every text was embedded exactly once over both runs: what the first run paid for was kept.
  std::int64_t distinct = f.p->state().cached_embedding_count(slow->identity());
  EXPECT_EQ(distinct, r.ingest.chunks_embedded + cached);
  EXPECT_EQ(slow->inputs(), distinct);
}

TEST(Pipeline, AFetchFailureStopsTheOverlappedRunWithTheFetchError) {
  fixture f("fetchfail");
  f.src->self_contained = true;
  f.src->partitions["a"] = many_pages(2, 3, "a", "1");
  f.src->partitions["b"] = many_pages(2, 3, "b", "1");
  f.src->fail_partition = "b";
  f.reopen();
  EXPECT_THROW(f.p->fetch_and_ingest(f.ctx), source_error);
  // What was fetched (partition a) was ingested before the error was raised; after the source
  // recovers, the rerun completes.
  f.src->fail_partition.clear();
  auto r = f.p->fetch_and_ingest(f.ctx);
  EXPECT_EQ(r.ingest.documents_unchanged, 6);
  EXPECT_EQ(r.ingest.documents_written, 6);
  EXPECT_TRUE(f.p->verify(f.ctx).ok);
}

TEST(Pipeline, ReconcileDeletesDocumentsGoneFromTheSourceAndRefusesAWipe) {
  fixture f("reconcile");
  f.src->partitions["a"] = many_pages(2, 5, "a", "1");
  f.src->partitions["b"] = many_pages(1, 5, "b", "1");
  f.reopen();
  f.p->fetch_and_ingest(f.ctx);
  const auto all = f.contents();
  EXPECT_EQ(f.p->reconcile(f.ctx).documents_deleted, 0);

  // Two documents vanish from the source (the journal still has them: only a listing can tell).
  f.src->partitions["a"] = many_pages(2, 5, "a", "1");
  std::string& second = f.src->partitions["a"][1];  // a5..a9: drop a5 and a6
  second = "[{" + second.substr(second.find("},{", second.find("},{") + 3) + 3);
  auto r = f.p->reconcile(f.ctx);
  EXPECT_EQ(r.listed, 13);
  EXPECT_EQ(r.documents, 15);
  EXPECT_EQ(r.documents_deleted, 2);
  EXPECT_EQ(r.deleted, (std::vector<std::string>{"a5", "a6"}));
  EXPECT_GT(r.chunks_deleted, 2);
  EXPECT_TRUE(f.idx->list("a5#", "", 10).empty());
  EXPECT_TRUE(f.idx->list("a6#", "", 10).empty());
  EXPECT_FALSE(f.idx->list("a7#", "", 10).empty());
  EXPECT_TRUE(f.p->verify(f.ctx).ok);

  // A source that suddenly lists (almost) nothing: refused, nothing deleted.
  f.src->partitions["a"] = {"[]", "[]"};
  f.src->partitions["b"] = {"[]"};
  auto before = f.contents();
  EXPECT_THROW(f.p->reconcile(f.ctx), source_error);
  EXPECT_EQ(f.contents(), before);
  EXPECT_EQ(f.p->reconcile(f.ctx, 1.0).documents_deleted, 13);
  EXPECT_EQ(f.idx->stats().count, 0);
  EXPECT_TRUE(f.p->verify(f.ctx).ok);
}

TEST(Pipeline, PartitionsAreFetchedConcurrentlyAndOneFailureLetsTheOthersFinish) {
  fixture f("concurrent");
  f.src->page_delay_ms = 20;
  for (const char* name : {"a", "b", "c", "d", "e"}) f.src->partitions[name] = many_pages(4, 3, name, "1");
  f.src->fail_partition = "e";
  f.reopen();
  EXPECT_THROW(f.p->fetch(f.ctx), source_error);
  EXPECT_GE(f.src->max_active.load(), 2);
  EXPECT_LE(f.src->max_active.load(), 4);  // fetch_concurrency
  // The partitions that were running when e failed finished; the rerun fetches only what is left.
  int done = 0;
  for (const auto& row : f.p->state().partitions("memory")) done += row.status == "done";
  EXPECT_EQ(done, 4);
  f.src->fail_partition.clear();
  auto again = f.p->fetch(f.ctx);
  EXPECT_EQ(again.partitions_skipped, done);
  EXPECT_EQ(f.p->state().page_count("memory"), 20);
  auto r = f.p->fetch_and_ingest(f.ctx);
  EXPECT_EQ(r.ingest.documents_written, 60);
  EXPECT_TRUE(f.p->verify(f.ctx).ok);
}

TEST(Pipeline, AStopEndsEveryConcurrentPartitionFetchAndTheRerunFetchesTheRest) {
  fixture f("stopall");
  f.src->page_delay_ms = 20;
  for (const char* name : {"a", "b", "c", "d", "e"}) f.src->partitions[name] = many_pages(10, 2, name, "1");
  f.reopen();
  run_context stopping([](const progress& p) { return p.phase == "fetch" && p.done >= 3; },
                       std::chrono::milliseconds(0));
  EXPECT_THROW(f.p->fetch(stopping), cancelled);
  EXPECT_EQ(f.src->active.load(), 0);  // every partition's fetch has ended when the call returns
  EXPECT_GE(f.src->max_active.load(), 2);
  const int read_first = f.src->pages_read;
  EXPECT_LT(read_first, 50);
  f.reopen();
  auto again = f.p->fetch(f.ctx);
  EXPECT_EQ(again.pages_total, 50);
  EXPECT_EQ(again.pages_fetched, 50 - read_first);  // every page read before the stop was journaled
  EXPECT_EQ(f.src->pages_read, 50);
}
