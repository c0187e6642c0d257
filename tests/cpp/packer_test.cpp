// The packer (count and byte limits, records too large to go alone) over both encoders, and the
// encoders' byte accounting: the size the packer is told is the size written.
#include "backfill/pack/packer.hpp"

#include <gtest/gtest.h>

#include <simdjson.h>

#include <cmath>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "backfill/pack/grpc.hpp"
#include "backfill/pack/rest.hpp"

using namespace backfill;

namespace {

record make_record(int i, std::size_t dims = 4, std::size_t text = 10) {
  std::vector<float> values(dims);
  for (std::size_t k = 0; k < dims; ++k)
    values[k] = 0.5f + static_cast<float>(k);  // same text for every record
  char id[16];
  std::snprintf(id, sizeof id, "r%04d", i);  // same length for every record
  return {id, values, R"({"text":")" + std::string(text, 'x') + R"("})"};
}

std::unique_ptr<pack::encoder> make_encoder(const std::string& kind) {
  if (kind == "rest") return std::make_unique<pack::rest_upsert_encoder>("ns");
  return std::make_unique<grpc::upsert_encoder>("ns");
}

struct run {
  std::vector<pack::request> requests;
  std::vector<pack::oversized_record> oversized;
};

run pack_all(pack::encoder& enc, pack::limits lim, const std::vector<record>& records) {
  run out;
  pack::packer p(enc, lim, [&](pack::request r) {
    out.requests.push_back(std::move(r));
    return std::string();
  });
  for (std::size_t i = 0; i < records.size(); ++i) {
    bool packed = p.add(i, records[i]);
    EXPECT_EQ(packed, p.oversized().empty() || p.oversized().back().index != i);
  }
  p.flush();
  out.oversized = p.oversized();
  return out;
}

// The records' encoded sizes, as the encoder tells them.
std::vector<std::size_t> sizes(pack::encoder& enc, const std::vector<record>& records) {
  std::vector<std::size_t> out;
  for (const auto& r : records) out.push_back(enc.prepare(r));
  return out;
}

class PackerTest : public ::testing::TestWithParam<std::string> {};

}  // namespace

INSTANTIATE_TEST_SUITE_P(Encoders, PackerTest, ::testing::Values("rest", "grpc"));

TEST_P(PackerTest, EncodedSizeIsTheBytesWritten) {
  auto enc = make_encoder(GetParam());
  std::vector<record> records;
  for (int i = 0; i < 20; ++i)
    records.push_back(make_record(i, static_cast<std::size_t>(1 + i * 7), static_cast<std::size_t>(i * 13)));
  records.push_back({"no-metadata", {1.0f}, ""});
  records.push_back({"é unicode id", {-1e-30f, 3.4e38f}, R"({"a":"\u00e9\n","b":[1,"x"],"c":true,"d":1.5})"});
  std::string body;
  enc->begin(body);
  std::size_t predicted = enc->overhead();
  for (std::size_t i = 0; i < records.size(); ++i) {
    std::size_t before = body.size();
    std::size_t size = enc->prepare(records[i]);
    enc->append(body, records[i], i == 0);
    std::size_t sep = i == 0 ? 0 : enc->separator();
    EXPECT_EQ(body.size() - before, size + sep) << "record " << i;
    predicted += size + sep;
  }
  enc->finish(body);
  EXPECT_EQ(body.size(), predicted);
  std::string empty;
  enc->begin(empty);
  enc->finish(empty);
  EXPECT_EQ(empty.size(), enc->overhead());
}

TEST_P(PackerTest, SplitsByCount) {
  auto enc = make_encoder(GetParam());
  std::vector<record> records;
  for (int i = 0; i < 10; ++i) records.push_back(make_record(i));
  run got = pack_all(*enc, {3, 2'000'000}, records);
  ASSERT_EQ(got.requests.size(), 4u);
  std::vector<std::size_t> all;
  for (std::size_t k = 0; k < got.requests.size(); ++k) {
    EXPECT_EQ(got.requests[k].members.size(), k < 3 ? 3u : 1u);
    all.insert(all.end(), got.requests[k].members.begin(), got.requests[k].members.end());
  }
  EXPECT_EQ(all, (std::vector<std::size_t>{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}));
  EXPECT_TRUE(got.oversized.empty());
}

TEST_P(PackerTest, FillsABodyToTheByteExactly) {
  auto enc = make_encoder(GetParam());
  std::vector<record> records;
  for (int i = 0; i < 12; ++i) records.push_back(make_record(i, 8, 40));
  const std::size_t size = enc->prepare(records[0]);
  for (std::size_t s : sizes(*enc, records)) ASSERT_EQ(s, size) << "the test wants records of one size";
  const std::size_t four = enc->overhead() + 4 * size + 3 * enc->separator();
  // Exactly four records' worth: requests of four, each exactly at the limit.
  run at = pack_all(*enc, {1000, four}, records);
  ASSERT_EQ(at.requests.size(), 3u);
  for (const auto& r : at.requests) {
    EXPECT_EQ(r.members.size(), 4u);
    EXPECT_EQ(r.body.size(), four);
  }
  // One byte less: three a request.
  run under = pack_all(*enc, {1000, four - 1}, records);
  ASSERT_EQ(under.requests.size(), 4u);
  for (const auto& r : under.requests) {
    EXPECT_EQ(r.members.size(), 3u);
    EXPECT_LE(r.body.size(), four - 1);
  }
}

TEST_P(PackerTest, AFirstRecordOverTheLimitSendsNoEmptyRequest) {
  auto enc = make_encoder(GetParam());
  std::vector<record> records = {make_record(0, 4, 5000), make_record(1), make_record(2)};
  const std::size_t limit = enc->overhead() + enc->prepare(records[1]) * 4;
  run got = pack_all(*enc, {1000, limit}, records);
  ASSERT_EQ(got.oversized.size(), 1u);
  EXPECT_EQ(got.oversized[0].index, 0u);
  EXPECT_EQ(got.oversized[0].bytes, enc->prepare(records[0]));
  ASSERT_EQ(got.requests.size(), 1u);
  EXPECT_EQ(got.requests[0].members, (std::vector<std::size_t>{1, 2}));
}

TEST_P(PackerTest, ARecordTooLargeAloneNeverBlocksTheRest) {
  auto enc = make_encoder(GetParam());
  std::vector<record> records;
  for (int i = 0; i < 9; ++i) records.push_back(make_record(i, 4, i % 4 == 2 ? 5000 : 10));
  const std::size_t limit = enc->overhead() + enc->prepare(records[0]) * 3 + 2 * enc->separator();
  run got = pack_all(*enc, {1000, limit}, records);
  ASSERT_EQ(got.oversized.size(), 2u);
  EXPECT_EQ(got.oversized[0].index, 2u);
  EXPECT_EQ(got.oversized[1].index, 6u);
  std::vector<std::vector<std::size_t>> members;
  for (const auto& r : got.requests) {
    EXPECT_FALSE(r.members.empty());
    EXPECT_LE(r.body.size(), limit);
    members.push_back(r.members);
  }
  EXPECT_EQ(members, (std::vector<std::vector<std::size_t>>{{0, 1, 3}, {4, 5, 7}, {8}}));
}

TEST_P(PackerTest, NothingAddedSendsNothing) {
  auto enc = make_encoder(GetParam());
  run got = pack_all(*enc, {10, 2'000'000}, {});
  EXPECT_TRUE(got.requests.empty());
}

TEST(RestEncoder, WritesPineconesUpsertJson) {
  pack::rest_upsert_encoder enc("my \"ns\"");
  std::vector<record> records = {{"a#0", {0.1f, -2.5f, 3e-8f}, R"({"k":"v"})"}, {"b#1", {1.0f}, ""}};
  run got = pack_all(enc, {1000, 2'000'000}, records);
  ASSERT_EQ(got.requests.size(), 1u);
  simdjson::dom::parser parser;
  simdjson::dom::element root;
  ASSERT_FALSE(parser.parse(got.requests[0].body).get(root)) << got.requests[0].body;
  std::string_view ns;
  ASSERT_FALSE(root.at_key("namespace").get(ns));
  EXPECT_EQ(ns, "my \"ns\"");
  simdjson::dom::array vectors;
  ASSERT_FALSE(root.at_key("vectors").get(vectors));
  ASSERT_EQ(vectors.size(), 2u);
  std::size_t n = 0;
  for (simdjson::dom::element v : vectors) {
    std::string_view id;
    ASSERT_FALSE(v.at_key("id").get(id));
    EXPECT_EQ(id, records[n].id);
    simdjson::dom::array values;
    ASSERT_FALSE(v.at_key("values").get(values));
    std::vector<float> got_values;
    for (simdjson::dom::element x : values) {
      double d = 0;
      ASSERT_FALSE(x.get(d));
      got_values.push_back(static_cast<float>(d));
    }
    EXPECT_EQ(got_values, records[n].values) << "floats read back exactly";
    simdjson::dom::element metadata;
    ASSERT_FALSE(v.at_key("metadata").get(metadata));
    EXPECT_EQ(simdjson::minify(metadata), n == 0 ? R"({"k":"v"})" : "{}");
    ++n;
  }
}
