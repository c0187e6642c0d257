// Records handed to a sink from outside the pipeline: the crew that reads them with the calling
// thread, and upsert_in_slices, which sends slices while the next are filled (into a real local index).
#include "backfill/pack/upsert_feed.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <stdexcept>
#include <string>
#include <vector>

#include "backfill/pack/crew.hpp"
#include "backfill/sinks/local/local_index.hpp"

using namespace backfill;
namespace fs = std::filesystem;

namespace {

class UpsertInSlices : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("backfill-upsert-feed-" + std::to_string(::getpid()) + "-" +
                                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
  fs::path dir_;
};

void fill_records(std::size_t begin, std::size_t end, std::vector<record>& out) {
  out.resize(end - begin);
  for (std::size_t i = begin; i < end; ++i)
    out[i - begin] = {
        "rec-" + std::to_string(i), {1.0f, static_cast<float>(i)}, R"({"i":)" + std::to_string(i) + "}"};
}

}  // namespace

TEST(Crew, RunsEveryPartOnceRoundAfterRound) {
  pack::crew crew(3, 8);
  for (int round = 0; round < 5; ++round) {
    std::vector<std::atomic<int>> seen(1001);
    std::atomic<std::size_t> max_worker{0};
    crew.run(seen.size(), [&](std::size_t lo, std::size_t hi, std::size_t worker) {
      for (std::size_t i = lo; i < hi; ++i) ++seen[i];
      for (std::size_t w = max_worker; w < worker && !max_worker.compare_exchange_weak(w, worker);) {
      }
    });
    for (std::size_t i = 0; i < seen.size(); ++i) ASSERT_EQ(seen[i], 1) << "round " << round << " item " << i;
    EXPECT_LE(max_worker.load(), crew.helpers());
  }
}

TEST(Crew, RaisesAPartsErrorAndWorksOnAfterIt) {
  pack::crew crew(2, 4);
  EXPECT_THROW(crew.run(400,
                        [](std::size_t lo, std::size_t, std::size_t) {
                          if (lo == 200) throw std::runtime_error("part 200");
                        }),
               std::runtime_error);
  std::atomic<std::size_t> done{0};
  crew.run(400, [&](std::size_t lo, std::size_t hi, std::size_t) { done += hi - lo; });
  EXPECT_EQ(done.load(), 400u);
}

TEST_F(UpsertInSlices, SendsEverySliceAndCountsTheAcknowledgements) {
  local_index index(dir_ / "index.sqlite", "ns");
  for (std::size_t count : {std::size_t{3}, std::size_t{512}, std::size_t{1300}}) {
    int unlocked = 0;
    std::int64_t acked =
        pack::upsert_in_slices(index, count, fill_records, [&](const std::function<void()>& fn) {
          ++unlocked;
          fn();
        });
    EXPECT_EQ(acked, static_cast<std::int64_t>(count));
    EXPECT_GE(unlocked, count <= 512 ? 1 : 4) << "every wait runs unlocked";
  }
  EXPECT_EQ(index.stats().count, 1300);
  auto got = index.fetch({"rec-1299"});
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].metadata_json, R"({"i":1299})");
}

TEST_F(UpsertInSlices, AFillThatFailsStopsTheCallAndIsRaised) {
  local_index index(dir_ / "index.sqlite", "ns");
  auto fill = [](std::size_t begin, std::size_t end, std::vector<record>& out) {
    if (begin >= 1024) throw std::invalid_argument("record 1024 is bad");
    fill_records(begin, end, out);
  };
  EXPECT_THROW(pack::upsert_in_slices(index, 3000, fill, [](const std::function<void()>& fn) { fn(); }),
               std::invalid_argument);
  EXPECT_LE(index.stats().count, 1024) << "nothing past the bad record is sent";
  EXPECT_TRUE(index.fetch({"rec-1024", "rec-2999"}).empty());
}
