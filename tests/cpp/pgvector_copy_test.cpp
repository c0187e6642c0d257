// The pgvector sink's pure parts: the binary COPY stream and the binary values read back, byte for
// byte as PostgreSQL's COPY documentation and pgvector's vector_send/vector_recv define them; the
// options it refuses before connecting; what it shows of a DSN.
#include <gtest/gtest.h>

#include <cstring>
#include <string>
#include <vector>

#include "backfill/core/errors.hpp"
#include "backfill/sinks/pgvector/copy_binary.hpp"
#include "backfill/sinks/pgvector/pgvector.hpp"

namespace backfill {
namespace {

std::string bytes(std::initializer_list<int> b) {
  std::string out;
  for (int x : b) out.push_back(static_cast<char>(x));
  return out;
}

TEST(PgvectorCopy, HeaderAndTrailerAreWhatCopyBinaryExpects) {
  std::string out;
  pgcopy::append_header(out);
  ASSERT_EQ(out.size(), 19u);
  EXPECT_EQ(out.substr(0, 11), std::string("PGCOPY\n\377\r\n\0", 11));
  EXPECT_EQ(out.substr(11), bytes({0, 0, 0, 0, 0, 0, 0, 0}));
  out.clear();
  pgcopy::append_trailer(out);
  EXPECT_EQ(out, bytes({0xff, 0xff}));
}

TEST(PgvectorCopy, FieldsAreLengthPrefixedBigEndian) {
  std::string out;
  pgcopy::append_row_start(out, 4);
  pgcopy::append_text(out, "a#1");
  pgcopy::append_jsonb(out, "{}");
  EXPECT_EQ(out, bytes({0, 4, 0, 0, 0, 3, 'a', '#', '1', 0, 0, 0, 3, 1, '{', '}'}));
}

TEST(PgvectorCopy, VectorIsDimensionsUnusedThenBigEndianFloats) {
  std::string out;
  pgcopy::append_vector(out, {1.0f, -2.5f});
  // length 12; dim 2; unused 0; 1.0f = 3f800000; -2.5f = c0200000
  EXPECT_EQ(out, bytes({0, 0, 0, 12, 0, 2, 0, 0, 0x3f, 0x80, 0, 0, 0xc0, 0x20, 0, 0}));
  auto back = pgcopy::read_vector(out.data() + 4, out.size() - 4);
  ASSERT_TRUE(back.has_value());
  EXPECT_EQ(*back, (std::vector<float>{1.0f, -2.5f}));
}

TEST(PgvectorCopy, ReadingRefusesMalformedValues) {
  const std::string short_vector = bytes({0, 3, 0, 0, 0x3f, 0x80, 0, 0});  // says 3, holds 1
  EXPECT_FALSE(pgcopy::read_vector(short_vector.data(), short_vector.size()).has_value());
  EXPECT_FALSE(pgcopy::read_vector(short_vector.data(), 2).has_value());
  const std::string v2 = bytes({2, '{', '}'});
  EXPECT_FALSE(pgcopy::read_jsonb(v2.data(), v2.size()).has_value());
  const std::string v1 = bytes({1, '{', '}'});
  EXPECT_EQ(pgcopy::read_jsonb(v1.data(), v1.size()).value(), "{}");
}

TEST(PgvectorCopy, JsonbReplacesEveryNulEscapeAndOnlyThose) {
  // \u0000 escapes become U+FFFD; an escaped backslash before "u0000" is text and stays.
  const std::string json = R"({"a\u0000":"x\u0000y","b":"\\u0000","c":"\\\u0000\u0000"})";
  std::string out;
  pgcopy::append_jsonb(out, json);
  const std::string fffd = "\xEF\xBF\xBD";
  EXPECT_EQ(out.substr(5),
            "{\"a" + fffd + "\":\"x" + fffd + "y\",\"b\":\"\\\\u0000\",\"c\":\"\\\\" + fffd + fffd + "\"}");
  ASSERT_EQ(out.size(), 5 + json.size() - 4 * 3);
  out.clear();
  pgcopy::append_jsonb(out, "{}");
  EXPECT_EQ(out.substr(5), "{}");
}

TEST(PgvectorCopy, FloatsRoundTripExactly) {
  std::vector<float> values = {0.0f, -0.0f, 1e-38f, 3.4028235e38f, 0.1f, -123.456f};
  std::string out;
  pgcopy::append_vector(out, values);
  auto back = pgcopy::read_vector(out.data() + 4, out.size() - 4);
  ASSERT_TRUE(back.has_value());
  ASSERT_EQ(back->size(), values.size());
  for (std::size_t i = 0; i < values.size(); ++i)
    EXPECT_EQ(std::memcmp(&(*back)[i], &values[i], sizeof(float)), 0) << i;
}

TEST(PgvectorSink, RefusesBadOptionsBeforeConnecting) {
  pgvector_options o;
  EXPECT_THROW(pgvector_sink{o}, config_error);  // no dsn
  o.dsn = "postgresql://u@127.0.0.1:1/db";
  o.index = "btree";
  EXPECT_THROW(pgvector_sink{o}, config_error);
  o.index = "hnsw";
  o.metric = "hamming";
  EXPECT_THROW(pgvector_sink{o}, config_error);
  o.metric = "cosine";
  o.connections = 0;
  EXPECT_THROW(pgvector_sink{o}, config_error);
}

TEST(PgvectorSink, ShowsWhereTheDsnPointsNeverItsPassword) {
  pgvector_options o;
  o.dsn = "postgresql://alice:hunter2-secret@db.example.com:6543/vectors?sslmode=require";
  o.namespace_ = "jira";
  pgvector_sink s(o);
  EXPECT_EQ(s.identity(), "pgvector:db.example.com:6543/vectors/public.backfill_chunks#jira");
  EXPECT_EQ(s.describe(),
            "PostgreSQL table public.backfill_chunks at db.example.com:6543/vectors (namespace \"jira\")");
  for (const auto& [k, v] : s.receipt_info()) EXPECT_EQ(v.find("hunter2"), std::string::npos) << k;

  o.dsn = "host=10.0.0.5 dbname=x user=bob password='p@ss word'";
  EXPECT_EQ(pgvector_sink(o).identity(), "pgvector:10.0.0.5:5432/x/public.backfill_chunks#jira");
  o.dsn = "host=10.0.0.5 password='unterminated";
  try {
    pgvector_sink bad(o);
    FAIL() << "a DSN libpq cannot read is refused";
  } catch (const config_error& e) {
    EXPECT_EQ(std::string(e.what()).find("unterminated"), std::string::npos) << e.what();
  }
}

TEST(PgvectorSink, AnUnreachableServerIsNamedWithoutThePassword) {
  pgvector_options o;
  o.dsn = "postgresql://alice:hunter2-secret@127.0.0.1:1/vectors";
  o.connect_timeout = 2;
  pgvector_sink s(o);
  try {
    s.stats();
    FAIL() << "nothing listens on port 1";
  } catch (const sink_error& e) {
    const std::string m = e.what();
    EXPECT_NE(m.find("127.0.0.1:1/vectors as alice"), std::string::npos) << m;
    EXPECT_EQ(m.find("hunter2"), std::string::npos) << m;
  }
}

}  // namespace
}  // namespace backfill
