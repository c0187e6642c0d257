#include "backfill/embed/embedder.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "backfill/core/errors.hpp"

using backfill::hash_embedder;

namespace {

double dot(const std::vector<float>& a, const std::vector<float>& b) {
  double s = 0;
  for (std::size_t i = 0; i < a.size(); ++i) s += static_cast<double>(a[i]) * b[i];
  return s;
}

double norm(const std::vector<float>& a) { return std::sqrt(dot(a, a)); }

bool all_zero(const std::vector<float>& v) {
  for (float x : v)
    if (x != 0.0f) return false;
  return true;
}

}  // namespace

TEST(HashEmbedder, IsDeterministic) {
  hash_embedder a(128), b(128);
  const std::string text = "The ingest phase skips unchanged documents. The ingest phase is idempotent.";
  EXPECT_EQ(a.embed_one(text), b.embed_one(text));
  EXPECT_EQ(a.embed_one(text), a.embed_one(text));
  auto batch = a.embed({text, "other"});
  ASSERT_EQ(batch.size(), 2u);
  EXPECT_EQ(batch[0], b.embed_one(text));
  EXPECT_EQ(batch[1], b.embed_one("other"));
}

TEST(HashEmbedder, DimensionAndUnitNorm) {
  for (int dim : {8, 37, 256, 1536}) {
    hash_embedder e(dim);
    EXPECT_EQ(e.dimension(), dim);
    for (const char* text : {"a", "hello world", "Jira issue SUBS-652: the paginator repeated itself forever",
                             "x x x x x x x x y"}) {
      auto v = e.embed_one(text);
      ASSERT_EQ(v.size(), static_cast<std::size_t>(dim));
      EXPECT_NEAR(norm(v), 1.0, 1e-5) << text << " dim " << dim;
      for (float x : v) EXPECT_TRUE(std::isfinite(x));
    }
  }
}

TEST(HashEmbedder, SharedWordsAreCloser) {
  hash_embedder e(256);
  auto a = e.embed_one("the pinecone upsert failed with a 400 because metadata exceeded 40 KB");
  auto b = e.embed_one("pinecone upsert failed: metadata exceeded the 40 KB limit");
  auto c = e.embed_one("lunch menu for friday includes tacos and lemonade");
  EXPECT_GT(dot(a, b), dot(a, c) + 0.3);
  EXPECT_GT(dot(a, b), 0.4);
  EXPECT_LT(std::abs(dot(a, c)), 0.3);
}

TEST(HashEmbedder, TokenizesOnNonAlphanumericsAndFoldsAsciiCase) {
  hash_embedder e(64);
  EXPECT_EQ(e.embed_one("Hello, World!"), e.embed_one("hello world"));
  EXPECT_EQ(e.embed_one("  hello\t\nworld  "), e.embed_one("hello world"));
  EXPECT_EQ(e.embed_one("SUBS-652"), e.embed_one("subs 652"));
  // Word pairs make order matter a little, words make it matter only a little.
  auto ab = e.embed_one("alpha beta gamma");
  auto ba = e.embed_one("gamma beta alpha");
  EXPECT_NE(ab, ba);
  EXPECT_GT(dot(ab, ba), 0.5);
}

TEST(HashEmbedder, NonAsciiWordsMatter) {
  hash_embedder e(256);
  // Non-ASCII letters are word characters: these differ only in non-ASCII words.
  EXPECT_NE(e.embed_one("Grüße"), e.embed_one("Gre"));
  EXPECT_NE(e.embed_one("東京"), e.embed_one("大阪"));
  EXPECT_FALSE(all_zero(e.embed_one("東京")));
  EXPECT_NEAR(norm(e.embed_one("東京")), 1.0, 1e-5);
  // "Grüße" is one word, not "gr" and "e".
  EXPECT_NE(e.embed_one("Grüße"), e.embed_one("gr e"));
  EXPECT_EQ(e.embed_one("GRüße"), e.embed_one("grüße"));  // ASCII case folds

  auto tokyo1 = e.embed_one("東京 station schedule");
  auto tokyo2 = e.embed_one("東京 tower tickets");
  auto osaka = e.embed_one("大阪 tower tickets");
  EXPECT_GT(dot(tokyo2, osaka), 0.3);  // share "tower tickets"
  EXPECT_LT(dot(tokyo2, osaka), 0.99);
  EXPECT_GT(dot(tokyo1, tokyo2), dot(tokyo1, osaka));
}

TEST(HashEmbedder, EmptyTextIsTheZeroVector) {
  hash_embedder e(32);
  for (const char* text : {"", "   ", ",.;!?-- \n\t", "()[]{}"}) {
    auto v = e.embed_one(text);
    ASSERT_EQ(v.size(), 32u);
    EXPECT_TRUE(all_zero(v)) << '"' << text << '"';
    for (float x : v) EXPECT_FALSE(std::isnan(x));
  }
}

TEST(HashEmbedder, CountsCallsAndInputs) {
  hash_embedder e(16);
  EXPECT_EQ(e.calls(), 0);
  EXPECT_EQ(e.inputs(), 0);
  auto out = e.embed({"a", "b", "c"});
  EXPECT_EQ(out.size(), 3u);
  for (const auto& v : out) EXPECT_EQ(v.size(), 16u);
  EXPECT_EQ(e.calls(), 1);
  EXPECT_EQ(e.inputs(), 3);
  e.embed({"d"});
  EXPECT_EQ(e.calls(), 2);
  EXPECT_EQ(e.inputs(), 4);
  e.embed_one("not counted");
  EXPECT_EQ(e.calls(), 2);
  EXPECT_TRUE(e.embed({}).empty());  // nothing to embed: no call
  EXPECT_EQ(e.calls(), 2);
  EXPECT_EQ(e.inputs(), 4);
  EXPECT_EQ(e.max_batch(), 512u);
}

TEST(HashEmbedder, ValidatesDimensionAndNamesItsSpace) {
  for (int bad : {-1, 0, 7, 20001}) {
    try {
      hash_embedder e(bad);
      FAIL() << "dimension " << bad << " accepted";
    } catch (const backfill::config_error& err) {
      EXPECT_EQ(std::string(err.what()),
                "embedder.dimension must be between 8 and 20000, got " + std::to_string(bad));
    }
  }
  EXPECT_NO_THROW(hash_embedder(8));
  EXPECT_NO_THROW(hash_embedder(20000));
  EXPECT_EQ(hash_embedder().dimension(), 256);
  EXPECT_EQ(hash_embedder(384).identity(), "hash:v1:dim=384");
  EXPECT_NE(hash_embedder(384).identity(), hash_embedder(385).identity());
}
