// The two-pass record reader behind Sink.upsert from Python: a plain pass on the calling thread and
// helpers, then a general pass on the calling thread for what the plain one declined.
#include "backfill/pack/record_reader.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

using namespace backfill;

TEST(RecordReader, ReadsEveryItemOnceAndLeavesTheDeclinedToTheCallingThread) {
  pack::record_reader reader(3);
  std::vector<record> out(5);  // a reused slice: resized to what is read
  const auto caller = std::this_thread::get_id();
  std::atomic<int> plain_calls{0};
  std::vector<std::thread::id> general_threads;
  reader.read(
      1000, out,
      [&](std::size_t i, record& r, pack::text_scratch& scratch) {
        ++plain_calls;
        if (i % 7 == 0) return false;
        std::string& text = scratch.next_text();
        text = "rec-" + std::to_string(i);
        r.id = text;
        scratch.used = 0;
        return true;
      },
      [&](std::size_t i, record& r) {
        general_threads.push_back(std::this_thread::get_id());
        r.id = "general-" + std::to_string(i);
      });
  EXPECT_EQ(plain_calls.load(), 1000);
  ASSERT_EQ(out.size(), 1000u);
  EXPECT_EQ(general_threads.size(), 143u);  // 0, 7, ..., 994
  for (auto id : general_threads) EXPECT_EQ(id, caller);
  for (std::size_t i = 0; i < out.size(); ++i)
    EXPECT_EQ(out[i].id, (i % 7 == 0 ? "general-" : "rec-") + std::to_string(i));
}

TEST(RecordReader, RaisesTheGeneralReadersErrorAndHelpsOnlyWithEnoughRecords) {
  EXPECT_EQ(pack::record_reader::helpers_for(10), 0u);
  EXPECT_EQ(pack::record_reader::helpers_for(10000), pack::crew::default_helpers());
  pack::record_reader reader(0);
  std::vector<record> out;
  EXPECT_THROW(reader.read(
                   3, out, [](std::size_t, record&, pack::text_scratch&) { return false; },
                   [](std::size_t i, record&) {
                     if (i == 1) throw std::invalid_argument("record 1");
                   }),
               std::invalid_argument);
}
