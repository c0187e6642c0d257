// Record building: chunks, their metadata, ids and metadata fitted to the sink, once.
#include "backfill/ingest/record_builder.hpp"

#include <gtest/gtest.h>

#include <simdjson.h>

#include <string>
#include <vector>

#include "backfill/core/hash.hpp"

using namespace backfill;

namespace {

document sample(std::string text) {
  document d;
  d.id = "jira:SUBS-1";
  d.source = "jira";
  d.partition = "SUBS";
  d.title = "A title";
  d.text = std::move(text);
  d.url = "https://example.atlassian.net/browse/SUBS-1";
  d.updated_at = "2024-05-01T00:00:00Z";
  d.meta.set("status", std::string("Done"));
  return d;
}

std::string long_text(int words) {
  std::string out;
  for (int i = 0; i < words; ++i) out += "word" + std::to_string(i) + " ";
  return out;
}

chunker_options small_chunks() {
  chunker_options o;
  o.target_tokens = 16;
  o.overlap_tokens = 2;
  return o;
}

}  // namespace

TEST(IngestRecordBuilder, EachChunkCarriesTheDocumentsMetadataAndItsHash) {
  record_builder builder(small_chunks(), 0, {});
  sanitize_report fitted;
  std::vector<std::string> unfit;
  auto doc = sample(long_text(40));
  auto built = builder.build(doc, "content-hash", fitted, unfit);
  EXPECT_EQ(built.id, doc.id);
  EXPECT_EQ(built.partition, "SUBS");
  EXPECT_EQ(built.content_hash, "content-hash");
  EXPECT_EQ(built.updated_at, doc.updated_at);
  ASSERT_GT(built.chunks.size(), 1u);
  for (std::size_t i = 0; i < built.chunks.size(); ++i) {
    const auto& pc = built.chunks[i];
    EXPECT_EQ(pc.c.id, chunk_id(doc.id, static_cast<int>(i)));
    EXPECT_EQ(pc.metadata_json, record_metadata(doc, pc.c));
    EXPECT_EQ(pc.meta_hash, hash_hex(pc.metadata_json));
    simdjson::dom::parser parser;
    simdjson::dom::object m = parser.parse(pc.metadata_json).get_object();
    EXPECT_EQ(std::string(m["doc_id"].get_string().value()), doc.id);
    EXPECT_EQ(std::string(m["status"].get_string().value()), "Done");
    EXPECT_EQ(std::string(m["url"].get_string().value()), doc.url);
    EXPECT_EQ(m["chunk"].get_double().value(), static_cast<double>(i));
    EXPECT_EQ(std::string(m["text"].get_string().value()), pc.c.text);
    EXPECT_TRUE(m["created_at"].error());  // empty fields are left out
  }
  EXPECT_TRUE(fitted.empty());
  EXPECT_TRUE(unfit.empty());
}

TEST(IngestRecordBuilder, IdsAreFittedToTheSink) {
  record_builder builder(small_chunks(), 0, [](std::string_view id) { return "fit:" + std::string(id); });
  sanitize_report fitted;
  std::vector<std::string> unfit;
  auto built = builder.build(sample("short"), "h", fitted, unfit);
  ASSERT_EQ(built.chunks.size(), 1u);
  EXPECT_EQ(built.chunks[0].c.id, "fit:jira:SUBS-1#0");
  EXPECT_NE(built.chunks[0].metadata_json.find("\"doc_id\":\"jira:SUBS-1\""), std::string::npos);
}

TEST(IngestRecordBuilder, MetadataOverTheLimitIsFittedAndHashedAsFitted) {
  chunker_options big;  // one large chunk, whose text alone is over the limit
  record_builder builder(big, 600, {});
  sanitize_report fitted;
  std::vector<std::string> unfit;
  auto built = builder.build(sample(long_text(100)), "h", fitted, unfit);
  ASSERT_EQ(built.chunks.size(), 1u);
  const auto& pc = built.chunks[0];
  EXPECT_LE(pc.metadata_json.size(), 600u);
  EXPECT_EQ(pc.meta_hash, hash_hex(pc.metadata_json));
  EXPECT_EQ(fitted.truncated["text"], 1);
  EXPECT_TRUE(unfit.empty());
  // Under the limit, nothing changes.
  record_builder roomy(big, 100000, {});
  sanitize_report none;
  auto whole = roomy.build(sample(long_text(100)), "h", none, unfit);
  EXPECT_EQ(whole.chunks[0].metadata_json, record_metadata(sample(long_text(100)), whole.chunks[0].c));
  EXPECT_TRUE(none.empty());
}

TEST(IngestRecordBuilder, AChunkWhoseIdentityFieldsCannotFitIsLeftOutAndNamed) {
  record_builder builder(small_chunks(), 40, {});
  sanitize_report fitted;
  std::vector<std::string> unfit;
  auto built = builder.build(sample(long_text(40)), "h", fitted, unfit);
  EXPECT_TRUE(built.chunks.empty());
  ASSERT_GT(unfit.size(), 1u);
  EXPECT_EQ(unfit[0], "jira:SUBS-1#0");
}
