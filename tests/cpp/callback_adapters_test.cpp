// The callback embedder, source and sink (what backfill.PythonEmbedder/PythonSource/PythonSink wrap)
// on plain lambdas: alone, and together through a whole pipeline that fails and resumes.
#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <mutex>

#include "backfill/core/errors.hpp"
#include "backfill/embed/callback_embedder.hpp"
#include "backfill/pipeline/pipeline.hpp"
#include "backfill/sinks/callback/callback_sink.hpp"
#include "backfill/sources/callback/callback_source.hpp"
#include "scratch_dir.hpp"

using namespace backfill;

namespace {

using vectors = std::vector<std::vector<float>>;

callback_embedder_options embedder_options(int dimension = 3) {
  return {"test", "model-1", "the test embedder model-1", dimension, 2, 2};
}

// A function of the text's length: the same text always gets the same vector.
vectors by_length(const std::vector<std::string_view>& texts) {
  vectors out;
  for (auto t : texts) out.push_back({static_cast<float>(t.size()), 1.0f, 0.5f});
  return out;
}

template <class E, class F>
std::string thrown(F&& f) {
  try {
    f();
  } catch (const E& e) {
    return e.what();
  }
  ADD_FAILURE() << "nothing thrown";
  return {};
}

// Pages of one document each: "<partition>:<n>" for n in [0, count), the cursor after each its n + 1.
callback_source_hooks::page_stream numbered(std::string partition, int from, int count, int fail_at = -1) {
  auto next = std::make_shared<int>(from);
  return [=]() -> std::optional<callback_page> {
    if (*next == fail_at) throw source_error("the API is down");
    if (*next >= count) return std::nullopt;
    int n = (*next)++;
    std::string id = partition + ":" + std::to_string(n);
    return callback_page{R"({"documents":[{"id":")" + id + R"(","text":"text of )" + id + R"("}]})", 1,
                         n + 1 < count ? std::to_string(n + 1) : "", ""};
  };
}

struct collected_pages final : page_sink {
  std::vector<std::string> cursors;
  void page(std::string_view, std::int64_t, std::string_view next_cursor, std::string_view) override {
    cursors.emplace_back(next_cursor);
  }
};

// An index in a map, as a user's Python sink would keep one.
struct map_index {
  std::map<std::string, record> records;
  callback_sink_hooks hooks() {
    callback_sink_hooks h;
    h.upsert = [this](const std::vector<record>& rs) {
      for (const auto& r : rs) records[r.id] = r;
      return static_cast<std::int64_t>(rs.size());
    };
    h.fetch = [this](const std::vector<std::string>& ids) {
      std::vector<fetched_record> out;
      for (const auto& id : ids)
        if (auto it = records.find(id); it != records.end())
          out.push_back({id, it->second.values, it->second.metadata_json});
      return out;
    };
    h.remove = [this](const std::vector<std::string>& ids) {
      for (const auto& id : ids) records.erase(id);
    };
    h.list = [this](std::string_view prefix, std::string_view after, std::size_t) {
      std::vector<std::string> out;  // unsorted and unlimited on purpose: the sink sorts and cuts
      for (auto it = records.rbegin(); it != records.rend(); ++it)
        if (it->first.starts_with(prefix) && it->first > after) out.push_back(it->first);
      return out;
    };
    h.stats = [this] { return sink_stats{static_cast<std::int64_t>(records.size()), 3}; };
    return h;
  }
};

}  // namespace

TEST(CallbackEmbedder, ChecksWhatTheFunctionReturnsNamingIt) {
  callback_embedder e(by_length, embedder_options());
  EXPECT_EQ(e.identity(), "test:model-1:dim=3");
  EXPECT_EQ(e.max_batch(), 2u);
  EXPECT_EQ(e.concurrency(), 2u);
  EXPECT_EQ(e.embed({"ab", "c"}), (vectors{{2, 1, 0.5f}, {1, 1, 0.5f}}));
  EXPECT_EQ(e.calls(), 1);
  EXPECT_EQ(e.inputs(), 2);

  callback_embedder short_count([](const auto&) { return vectors{{1, 2, 3}}; }, embedder_options());
  EXPECT_EQ(thrown<embed_error>([&] {
              short_count.embed({"a", "b"});
            }),
            "the test embedder model-1 returned 1 vectors for 2 texts");
  callback_embedder wrong_dim([](const auto& t) { return vectors(t.size(), {1, 2}); }, embedder_options());
  EXPECT_EQ(thrown<embed_error>([&] { wrong_dim.embed({"a"}); }),
            "the test embedder model-1 returned a vector of dimension 2, expected 3");
  // What the function throws leaves as it is (the Python binding's errors carry the Python exception).
  callback_embedder failing([](const auto&) -> vectors { throw config_error("no model"); },
                            embedder_options());
  EXPECT_EQ(thrown<config_error>([&] { failing.embed({"a"}); }), "no model");
}

TEST(CallbackEmbedder, RefusesOptionsThatCannotWork) {
  auto with = [](auto change) {
    auto o = embedder_options();
    change(o);
    return thrown<config_error>([&] { callback_embedder(by_length, o); });
  };
  EXPECT_EQ(with([](auto& o) { o.dimension = 0; }), "embedder.dimension must be positive, got 0");
  EXPECT_EQ(with([](auto& o) { o.batch_size = 0; }), "embedder.batch_size must be at least 1");
  EXPECT_EQ(with([](auto& o) { o.concurrency = 0; }), "embedder.concurrency must be at least 1");
  EXPECT_NE(with([](auto& o) { o.name.clear(); }).find("needs a name"), std::string::npos);
}

TEST(CallbackSource, FetchesPagesUntilTheStreamEndsAndOffersOnlyWhatItHasHooksFor) {
  callback_source_hooks h;
  h.partitions = [] { return std::vector<std::string>{"a", "b"}; };
  h.pages = [](std::string_view p, std::string_view cursor) {
    return numbered(std::string(p), cursor.empty() ? 0 : std::stoi(std::string(cursor)), 3);
  };
  callback_source src(h, "test", "a test source");
  run_context ctx;
  auto plan = src.plan(ctx);
  ASSERT_EQ(plan.size(), 2u);
  EXPECT_EQ(plan[1].name, "b");
  EXPECT_EQ(plan[1].estimated_pages, -1);
  collected_pages pages;
  src.fetch(plan[0], "1", pages, ctx);
  EXPECT_EQ(pages.cursors, (std::vector<std::string>{"2", ""}));
  EXPECT_FALSE(src.incremental());
  EXPECT_FALSE(src.can_list_ids());
  std::vector<std::string> ids;
  src.page_items("a", R"({"documents":[{"id":"a:7"}]})", [&](std::string_view id) { ids.emplace_back(id); });
  EXPECT_EQ(ids, std::vector<std::string>{"a:7"});

  h.list_ids = [](std::string_view p) { return std::vector<std::string>{std::string(p) + ":0"}; };
  h.reopen = [](std::string_view, std::string_view watermark) { return "since " + std::string(watermark); };
  callback_source full(h, "test", "a test source");
  EXPECT_TRUE(full.incremental());
  EXPECT_EQ(full.reopen_cursor(plan[0], "2024"), "since 2024");
  ASSERT_TRUE(full.can_list_ids());
  ids.clear();
  full.list_ids(
      plan[1], [&](std::string_view id) { ids.emplace_back(id); }, ctx);
  EXPECT_EQ(ids, std::vector<std::string>{"b:0"});
}

TEST(CallbackSource, NormalizesRawPagesThroughTheDocumentsHookAtEveryRead) {
  struct one_page final : page_reader {
    void for_each(
        const std::function<void(std::int64_t, const std::string&, const std::string&)>& fn) override {
      fn(1, R"({"items":["x","y"]})", "p/1.json");
    }
    void for_each_in(
        std::string_view,
        const std::function<void(std::int64_t, const std::string&, const std::string&)>&) override {}
  } raw;
  callback_source_hooks h;
  h.partitions = [] { return std::vector<std::string>{"p"}; };
  h.pages = [](std::string_view, std::string_view) { return callback_source_hooks::page_stream(); };
  h.documents = [](std::string_view partition, const std::string& body) {
    EXPECT_EQ(body, R"({"items":["x","y"]})");
    return R"({"documents":[{"id":")" + std::string(partition) + R"(:x","title":"X"}]})";
  };
  callback_source src(h, "raw", "raw items");
  std::vector<document> docs;
  run_context ctx;
  src.normalize(
      "p", raw, [&](document&& d) { docs.push_back(std::move(d)); }, ctx);
  ASSERT_EQ(docs.size(), 1u);
  EXPECT_EQ(docs[0].id, "p:x");
  EXPECT_EQ(docs[0].source, "raw");
  EXPECT_EQ(docs[0].title, "X");

  EXPECT_THROW(callback_source(callback_source_hooks{}, "none", ""), config_error);
}

TEST(CallbackSink, SortsAndCutsListingsAndSaysWhenItCannotQuery) {
  map_index index;
  callback_sink s(index.hooks(), {"test", "idx", "the test sink idx", "a map", 10, 512});
  EXPECT_EQ(s.identity(), "test:idx");
  EXPECT_EQ(s.max_batch(), 10u);
  EXPECT_EQ(s.metadata_limit(), 512u);
  EXPECT_EQ(s.upsert({{"b", {1, 2, 3}, "{}"}, {"a", {1, 2, 3}, "{}"}, {"c", {1, 2, 3}, "{}"}}), 3);
  EXPECT_EQ(s.list("", "", 2), (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(s.list("", "a", 10), (std::vector<std::string>{"b", "c"}));
  s.remove({"b"});
  EXPECT_EQ(s.stats().count, 2);
  EXPECT_EQ(s.fetch({"a", "b"}).size(), 1u);
  EXPECT_EQ(thrown<sink_error>([&] {
              s.query({1, 2, 3}, 1);
            }),
            "the test sink idx has no query function to search it with");

  auto h = index.hooks();
  h.stats = nullptr;
  EXPECT_THROW(callback_sink(h, {"test", "idx", "the test sink idx", "", 10, 0}), config_error);
}

class CallbackPipeline : public scratch_dir_test {};

TEST_F(CallbackPipeline, FailsOnABrokenPageAndResumesFromItsCursorToAVerifiedIndex) {
  std::mutex m;
  std::vector<std::string> opened;  // partition@cursor of every pages call
  int fail_at = 2;
  callback_source_hooks h;
  h.partitions = [] { return std::vector<std::string>{"a", "b"}; };
  h.pages = [&](std::string_view p, std::string_view cursor) {
    std::lock_guard<std::mutex> lock(m);
    opened.push_back(std::string(p) + "@" + std::string(cursor));
    int from = cursor.empty() ? 0 : std::stoi(std::string(cursor));
    return numbered(std::string(p), from, 4, p == "a" ? fail_at : -1);
  };
  auto src = std::make_shared<callback_source>(h, "test", "numbered pages");
  auto emb = std::make_shared<callback_embedder>(by_length, embedder_options());
  map_index index;
  auto snk = std::make_shared<callback_sink>(
      index.hooks(), callback_sink_options{"test", "idx", "the test sink idx", "", 3, 0});
  pipeline_options o;
  o.workdir = dir_;
  run_context ctx;

  EXPECT_THROW(pipeline(src, emb, snk, o).fetch_and_ingest(ctx, {}), source_error);
  fail_at = -1;
  pipeline p(src, emb, snk, o);
  auto run = p.fetch_and_ingest(ctx, {});
  EXPECT_EQ(run.fetch.pages_total, 8);
  EXPECT_NE(std::find(opened.begin(), opened.end(), "a@2"),
            opened.end());  // resumed after the journaled pages
  EXPECT_EQ(index.records.size(), 8u);
  auto v = p.verify(ctx, 0);
  EXPECT_TRUE(v.ok);
  EXPECT_EQ(v.checked, 8);
}
