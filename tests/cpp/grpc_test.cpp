// The gRPC upsert writer, checked by a protobuf reader written here from the wire-format spec
// (https://protobuf.dev/programming-guides/encoding/), not from the writer's code.
#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <cstring>
#include <limits>
#include <map>
#include <string>
#include <variant>
#include <vector>

#include "backfill/pack/grpc.hpp"
#include "backfill/sinks/pinecone/pinecone.hpp"

using namespace backfill;

namespace {

// One field as read from the wire.
struct field {
  int number = 0;
  int wire = 0;
  std::uint64_t varint = 0;  // wire 0
  std::uint64_t fixed = 0;   // wire 1 and 5
  std::string bytes;         // wire 2
};

std::uint64_t read_varint(const std::string& s, std::size_t& i) {
  std::uint64_t v = 0;
  for (int shift = 0;; shift += 7) {
    if (i >= s.size() || shift > 63) throw std::runtime_error("truncated varint");
    auto b = static_cast<unsigned char>(s[i++]);
    v |= static_cast<std::uint64_t>(b & 0x7F) << shift;
    if (!(b & 0x80)) return v;
  }
}

std::vector<field> read_message(const std::string& s) {
  std::vector<field> out;
  std::size_t i = 0;
  while (i < s.size()) {
    std::uint64_t key = read_varint(s, i);
    field f;
    f.number = static_cast<int>(key >> 3);
    f.wire = static_cast<int>(key & 7);
    if (f.wire == 0) {
      f.varint = read_varint(s, i);
    } else if (f.wire == 1 || f.wire == 5) {
      std::size_t n = f.wire == 1 ? 8 : 4;
      if (i + n > s.size()) throw std::runtime_error("truncated fixed field");
      for (std::size_t b = 0; b < n; ++b)
        f.fixed |= static_cast<std::uint64_t>(static_cast<unsigned char>(s[i + b])) << (8 * b);
      i += n;
    } else if (f.wire == 2) {
      std::uint64_t n = read_varint(s, i);
      if (n > s.size() - i) throw std::runtime_error("length past the end");
      f.bytes = s.substr(i, n);
      i += n;
    } else {
      throw std::runtime_error("unexpected wire type");
    }
    out.push_back(std::move(f));
  }
  return out;
}

// google.protobuf.Value, decoded.
struct value;
using list = std::vector<value>;
struct value {
  std::variant<std::monostate, double, std::string, bool, list> v;
};

value read_value(const std::string& s) {
  auto fs = read_message(s);
  if (fs.size() != 1) throw std::runtime_error("a Value with other than one field");
  const field& f = fs[0];
  value out;
  switch (f.number) {
    case 1: EXPECT_EQ(f.wire, 0); break;
    case 2:
      EXPECT_EQ(f.wire, 1);
      out.v = std::bit_cast<double>(f.fixed);
      break;
    case 3:
      EXPECT_EQ(f.wire, 2);
      out.v = f.bytes;
      break;
    case 4:
      EXPECT_EQ(f.wire, 0);
      out.v = f.varint != 0;
      break;
    case 6: {
      list items;
      for (auto& item : read_message(f.bytes)) {
        EXPECT_EQ(item.number, 1);
        items.push_back(read_value(item.bytes));
      }
      out.v = std::move(items);
      break;
    }
    default: ADD_FAILURE() << "Value field " << f.number;
  }
  return out;
}

std::map<std::string, value> read_struct(const std::string& s) {
  std::map<std::string, value> out;
  for (auto& entry : read_message(s)) {
    EXPECT_EQ(entry.number, 1);
    EXPECT_EQ(entry.wire, 2);
    std::string key;
    value v;
    for (auto& kv : read_message(entry.bytes)) {
      if (kv.number == 1) key = kv.bytes;
      if (kv.number == 2) v = read_value(kv.bytes);
    }
    out[key] = std::move(v);
  }
  return out;
}

struct decoded_vector {
  std::string id;
  std::vector<float> values;
  bool has_metadata = false;
  std::map<std::string, value> metadata;
};

struct decoded_request {
  bool has_namespace = false;
  std::string name_space;
  std::vector<decoded_vector> vectors;
};

decoded_request read_request(const std::string& body) {
  // gRPC frame: 0 (not compressed), 4-byte big-endian length, the message.
  EXPECT_GE(body.size(), 5u);
  EXPECT_EQ(body[0], 0);
  std::uint32_t n = 0;
  for (int b = 1; b <= 4; ++b) n = (n << 8) | static_cast<unsigned char>(body[b]);
  EXPECT_EQ(n, body.size() - 5);
  decoded_request out;
  for (auto& f : read_message(body.substr(5))) {
    if (f.number == 2) {
      out.has_namespace = true;
      out.name_space = f.bytes;
      continue;
    }
    EXPECT_EQ(f.number, 1);
    decoded_vector v;
    for (auto& vf : read_message(f.bytes)) {
      if (vf.number == 1) v.id = vf.bytes;
      if (vf.number == 2) {
        EXPECT_EQ(vf.wire, 2) << "values must be packed";
        EXPECT_EQ(vf.bytes.size() % 4, 0u);
        for (std::size_t i = 0; i < vf.bytes.size(); i += 4) {
          std::uint32_t bits = 0;
          for (int b = 0; b < 4; ++b)
            bits |= static_cast<std::uint32_t>(static_cast<unsigned char>(vf.bytes[i + b])) << (8 * b);
          v.values.push_back(std::bit_cast<float>(bits));
        }
      }
      if (vf.number == 3) {
        v.has_metadata = true;
        v.metadata = read_struct(vf.bytes);
      }
    }
    out.vectors.push_back(std::move(v));
  }
  return out;
}

std::string encode(const std::string& ns, const std::vector<record>& records,
                   std::vector<std::size_t>* sizes = nullptr) {
  grpc::upsert_encoder enc(ns);
  std::string body;
  enc.begin(body);
  EXPECT_EQ(body.size(), enc.overhead());
  for (const auto& r : records) {
    std::size_t before = body.size();
    std::size_t size = enc.prepare(r);
    enc.append(body, r, before == enc.overhead());
    EXPECT_EQ(body.size() - before, size) << "prepare() must predict the bytes append() writes";
    if (sizes) sizes->push_back(size);
  }
  enc.finish(body);
  return body;
}

}  // namespace

TEST(GrpcVarint, KnownEncodings) {
  auto enc = [](std::uint64_t v) {
    std::string s;
    grpc::append_varint(s, v);
    EXPECT_EQ(s.size(), grpc::varint_size(v));
    return s;
  };
  EXPECT_EQ(enc(0), std::string("\x00", 1));
  EXPECT_EQ(enc(1), "\x01");
  EXPECT_EQ(enc(127), "\x7f");
  EXPECT_EQ(enc(128), "\x80\x01");
  EXPECT_EQ(enc(300), "\xac\x02");  // the protobuf docs' example
  EXPECT_EQ(enc(16384), std::string("\x80\x80\x01"));
  EXPECT_EQ(enc(std::numeric_limits<std::uint64_t>::max()),
            std::string("\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01"));
  for (std::uint64_t v : {0ull, 1ull, 127ull, 128ull, 6144ull, 2000000ull, 1ull << 35, ~0ull}) {
    std::string s = enc(v);
    std::size_t i = 0;
    EXPECT_EQ(read_varint(s, i), v);
    EXPECT_EQ(i, s.size());
  }
}

TEST(GrpcUpsert, RecordsNamespaceAndFloatsBitExact) {
  std::vector<float> odd = {1.0f,
                            -0.0f,
                            std::numeric_limits<float>::denorm_min(),
                            std::numeric_limits<float>::max(),
                            std::numeric_limits<float>::lowest(),
                            0.1f,
                            1.0f / 3.0f,
                            -2.5e-38f};
  std::vector<float> big(1536);
  for (std::size_t i = 0; i < big.size(); ++i) big[i] = std::sin(static_cast<float>(i)) / 39.0f;
  std::vector<record> records = {{"doc-1#0", odd, ""}, {"jira:SUBS-652#3", big, "{}"}};
  decoded_request req = read_request(encode("slack", records));
  EXPECT_TRUE(req.has_namespace);
  EXPECT_EQ(req.name_space, "slack");
  ASSERT_EQ(req.vectors.size(), 2u);
  EXPECT_EQ(req.vectors[0].id, "doc-1#0");
  EXPECT_EQ(req.vectors[1].id, "jira:SUBS-652#3");
  for (std::size_t r = 0; r < 2; ++r) {
    const auto& want = records[r].values;
    const auto& got = req.vectors[r].values;
    ASSERT_EQ(got.size(), want.size());
    for (std::size_t i = 0; i < want.size(); ++i)
      EXPECT_EQ(std::bit_cast<std::uint32_t>(got[i]), std::bit_cast<std::uint32_t>(want[i]))
          << "record " << r << " value " << i;
    EXPECT_FALSE(req.vectors[r].has_metadata) << "no metadata: no Struct at all";
  }
}

TEST(GrpcUpsert, MetadataIsAStruct) {
  std::vector<record> records = {
      {"a",
       {0.5f},
       R"({"chunk":3,"lang":"en","pi":3.25,"big":12345678901234,"neg":-7,"ok":true,"no":false,)"
       R"("tags":["x","y\u00e9"],"empty":[],"quote":"say \"hi\"\n","unicode":"Ünïcødé ✓"})"}};
  decoded_request req = read_request(encode("ns", records));
  ASSERT_EQ(req.vectors.size(), 1u);
  ASSERT_TRUE(req.vectors[0].has_metadata);
  auto& md = req.vectors[0].metadata;
  EXPECT_EQ(md.size(), 11u);
  EXPECT_EQ(std::get<double>(md["chunk"].v), 3.0);
  EXPECT_EQ(std::get<double>(md["pi"].v), 3.25);
  EXPECT_EQ(std::get<double>(md["big"].v), 12345678901234.0);
  EXPECT_EQ(std::get<double>(md["neg"].v), -7.0);
  EXPECT_EQ(std::get<std::string>(md["lang"].v), "en");
  EXPECT_EQ(std::get<bool>(md["ok"].v), true);
  EXPECT_EQ(std::get<bool>(md["no"].v), false);
  const auto& tags = std::get<list>(md["tags"].v);
  ASSERT_EQ(tags.size(), 2u);
  EXPECT_EQ(std::get<std::string>(tags[0].v), "x");
  EXPECT_EQ(std::get<std::string>(tags[1].v), "y\xc3\xa9");
  EXPECT_TRUE(std::get<list>(md["empty"].v).empty());
  EXPECT_EQ(std::get<std::string>(md["quote"].v), "say \"hi\"\n");
  EXPECT_EQ(std::get<std::string>(md["unicode"].v), "Ünïcødé ✓");
}

TEST(GrpcUpsert, EmptyNamespaceIsLeftOutAndTheSinkSendsDefault) {
  std::vector<record> records = {{"a", {1.0f}, ""}};
  decoded_request req = read_request(encode("", records));
  EXPECT_FALSE(req.has_namespace) << "proto3 leaves an empty string out";
  // The sink never sends "": like REST, "" and "__default__" both become "__default__".
  for (const char* ns : {"", "__default__"}) {
    pinecone_options o;
    o.host = "http://127.0.0.1:9";
    o.api_key = "pk-unit-test";
    o.namespace_ = ns;
    pinecone_sink sink(o);
    EXPECT_EQ(sink.receipt_info().at("namespace"), "__default__");
    EXPECT_EQ(sink.receipt_info().at("transport"), "grpc");
  }
}

TEST(GrpcUpsert, SizesAddUpForPacking) {
  // 1000 records of 1536 floats with metadata: the body is exactly overhead + the sizes prepare() gave.
  std::vector<record> records;
  for (int i = 0; i < 300; ++i)
    records.push_back(
        {"doc-" + std::to_string(i), std::vector<float>(1536, 0.25f),
         R"({"source":"bench","text":")" + std::string(static_cast<std::size_t>(i), 'w') + R"("})"});
  std::vector<std::size_t> sizes;
  std::string body = encode("bench", records, &sizes);
  std::size_t total = grpc::upsert_encoder("bench").overhead();
  for (auto n : sizes) total += n;
  EXPECT_EQ(body.size(), total);
  EXPECT_EQ(read_request(body).vectors.size(), 300u);
}

TEST(GrpcUpsert, MetadataThatIsNotAnObjectIsRefused) {
  grpc::upsert_encoder enc("ns");
  record r{"a", {1.0f}, "[1,2]"};
  EXPECT_THROW(enc.prepare(r), backfill::error);
  r.metadata_json = "{not json";
  EXPECT_THROW(enc.prepare(r), backfill::error);
}

TEST(GrpcResponse, UpsertedCount) {
  auto framed = [](const std::string& msg) {
    std::string b(1, '\0');
    auto n = static_cast<std::uint32_t>(msg.size());
    for (int s = 24; s >= 0; s -= 8) b.push_back(static_cast<char>((n >> s) & 0xFF));
    return b + msg;
  };
  EXPECT_EQ(grpc::read_upserted_count(framed("\x08\xe8\x07")), 1000u);
  EXPECT_EQ(grpc::read_upserted_count(framed("")), 0u) << "proto3 leaves a zero count out";
  EXPECT_EQ(grpc::read_upserted_count(framed(std::string("\x12\x02hi\x08\x05", 6))), 5u)
      << "unknown fields skipped";
  EXPECT_FALSE(grpc::read_upserted_count(""));
  EXPECT_FALSE(grpc::read_upserted_count(framed("\x08")));                    // truncated varint
  EXPECT_FALSE(grpc::read_upserted_count(std::string("\x01\0\0\0\x00", 5)));  // compressed
  std::string wrong_length = framed("\x08\x05");
  wrong_length[4] = 9;
  EXPECT_FALSE(grpc::read_upserted_count(wrong_length));
}

TEST(GrpcStatus, NamesRetryAndMessages) {
  EXPECT_EQ(grpc::status_name(0), "OK");
  EXPECT_EQ(grpc::status_name(3), "INVALID_ARGUMENT");
  EXPECT_EQ(grpc::status_name(8), "RESOURCE_EXHAUSTED");
  EXPECT_EQ(grpc::status_name(14), "UNAVAILABLE");
  EXPECT_EQ(grpc::status_name(16), "UNAUTHENTICATED");
  EXPECT_EQ(grpc::status_name(42), "code 42");
  for (int c : {4, 8, 10, 14}) EXPECT_TRUE(grpc::status_retryable(c)) << c;
  for (int c : {0, 1, 2, 3, 5, 6, 7, 9, 11, 12, 13, 15, 16}) EXPECT_FALSE(grpc::status_retryable(c)) << c;
  EXPECT_EQ(grpc::percent_decode("Invalid%20API%20Key%3A%20%C3%A9"), "Invalid API Key: \xc3\xa9");
  EXPECT_EQ(grpc::percent_decode("100%"), "100%");
  EXPECT_EQ(grpc::percent_decode("%zz%4"), "%zz%4");
}
