// Record building: chunks, their metadata, ids and metadata fitted to the sink, once.
#include "backfill/ingest/record_builder.hpp"

#include <gtest/gtest.h>

#include <simdjson.h>

#include <cmath>
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

namespace {

// The definition record_metadata_writer renders a document at a time: the document's fields, its
// identity fields over them, the chunk's own fields over those, as canonical JSON.
std::string one_chunk_at_a_time(const document& doc, const chunk& c, const record_provenance* provenance) {
  metadata m = doc.meta;
  m.set("doc_id", doc.id);
  m.set("source", doc.source);
  m.set("partition", doc.partition);
  m.set("title", doc.title);
  if (!doc.url.empty()) m.set("url", doc.url);
  if (!doc.created_at.empty()) m.set("created_at", doc.created_at);
  if (!doc.updated_at.empty()) m.set("updated_at", doc.updated_at);
  m.set("chunk", static_cast<double>(c.index));
  m.set("text", c.text);
  if (provenance) {
    m.set(std::string(doc_hash_key), provenance->doc_hash);
    m.set(std::string(text_hash_key), c.text_hash);
    m.set(std::string(embedder_key), provenance->embedder);
    m.set(std::string(source_kind_key), provenance->source_kind);
    m.set(std::string(chunk_count_key), static_cast<double>(provenance->chunks));
  }
  return m.to_json();
}

}  // namespace

TEST(IngestRecordBuilder, TheWriterRendersEachChunkAsItsOwnCanonicalMetadataWouldRead) {
  const record_provenance provenance{"doc-hash", "openai:text-embedding-3-small:1536", "jira", 3};
  std::vector<document> docs;
  docs.push_back(sample("plain"));
  {  // fields that sort before, between and after the chunk's own keys, and ones it overrides
    document d = sample("over\"ridden \\u0000 \xe2\x82\xac");
    d.meta.set("a", true);
    d.meta.set("backfill_text_hash", std::string("from the source"));
    d.meta.set("chunk", std::string("from the source"));
    d.meta.set("labels", std::vector<std::string>{"x", "y\"z"});
    d.meta.set("text", 3.5);
    d.meta.set("tz", -0.0);
    d.meta.set("zzz", std::nan(""));
    d.meta.set("\xc3\xa9t\xc3\xa9", std::string("utf-8 key"));
    d.meta.set("doc_id", std::string("replaced by the document's"));
    docs.push_back(std::move(d));
  }
  {  // only what every record has, nothing of the source's
    document d;
    d.id = "slack:C1:1.0";
    d.source = "slack_export";
    docs.push_back(std::move(d));
  }
  for (const document& doc : docs) {
    for (const record_provenance* p : {static_cast<const record_provenance*>(nullptr), &provenance}) {
      const record_metadata_writer writer(doc, p);
      for (int i : {0, 1, 12}) {
        chunk c;
        c.id = chunk_id(doc.id, i);
        c.doc_id = doc.id;
        c.index = i;
        c.text = doc.title + "\n" + doc.text + std::to_string(i);
        c.text_hash = "text-hash-" + std::to_string(i);
        const std::string expected = one_chunk_at_a_time(doc, c, p);
        EXPECT_EQ(writer.render(c), expected) << doc.id << " chunk " << i << (p ? " with provenance" : "");
        EXPECT_EQ(record_metadata(doc, c, p), expected);
      }
    }
  }
}
