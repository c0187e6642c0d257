// The OpenAI-compatible embedder's pure pieces: base64 float decoding, request planning and response
// checking. The HTTP side is tested end to end against the fake server (tests/python/test_openai.py).
#include "backfill/embed/openai.hpp"

#include <gtest/gtest.h>
#include <simdjson.h>

#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "backfill/core/errors.hpp"
#include "backfill/ingest/chunker.hpp"

using namespace backfill;
using backfill::openai::slice;

namespace {

// An independent, obviously correct encoder for the tests.
std::string b64(const std::vector<unsigned char>& bytes, bool pad = true) {
  static const char* a = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  std::size_t i = 0;
  for (; i + 3 <= bytes.size(); i += 3) {
    unsigned v = (bytes[i] << 16) | (bytes[i + 1] << 8) | bytes[i + 2];
    out += {a[v >> 18], a[(v >> 12) & 63], a[(v >> 6) & 63], a[v & 63]};
  }
  if (bytes.size() - i == 1) {
    unsigned v = bytes[i] << 16;
    out += {a[v >> 18], a[(v >> 12) & 63]};
    if (pad) out += "==";
  } else if (bytes.size() - i == 2) {
    unsigned v = (bytes[i] << 16) | (bytes[i + 1] << 8);
    out += {a[v >> 18], a[(v >> 12) & 63], a[(v >> 6) & 63]};
    if (pad) out += "=";
  }
  return out;
}

std::string b64_floats(const std::vector<float>& v) {
  std::vector<unsigned char> bytes(v.size() * 4);
  for (std::size_t i = 0; i < v.size(); ++i) {
    std::uint32_t u;
    std::memcpy(&u, &v[i], 4);
    for (int k = 0; k < 4; ++k) bytes[i * 4 + k] = static_cast<unsigned char>(u >> (8 * k));  // little-endian
  }
  return b64(bytes);
}

std::vector<unsigned char> decode(std::string_view s) {
  std::vector<unsigned char> out(openai::base64_decoded_size(s));
  if (!openai::base64_decode(s, out.data())) throw std::runtime_error("invalid");
  return out;
}

std::vector<std::string_view> views(const std::vector<std::string>& v) { return {v.begin(), v.end()}; }

// Every text in exactly one slice, in order, each within the limits.
void expect_valid(const std::vector<slice>& plan, const std::vector<std::string>& texts,
                  std::size_t max_inputs, std::size_t max_tokens) {
  std::size_t next = 0;
  for (const auto& s : plan) {
    EXPECT_EQ(s.begin, next);
    EXPECT_GT(s.end, s.begin);
    EXPECT_LE(s.end - s.begin, max_inputs);
    std::size_t tokens = 0;
    for (std::size_t i = s.begin; i < s.end; ++i) tokens += estimate_tokens(texts[i]);
    EXPECT_EQ(tokens, s.tokens);
    EXPECT_LE(tokens, max_tokens);
    next = s.end;
  }
  EXPECT_EQ(next, texts.size());
}

}  // namespace

TEST(OpenAIBase64, KnownVectors) {
  // RFC 4648 section 10.
  auto str = [](std::string_view s) {
    auto d = decode(s);
    return std::string(d.begin(), d.end());
  };
  EXPECT_EQ(str(""), "");
  EXPECT_EQ(str("Zg=="), "f");
  EXPECT_EQ(str("Zm8="), "fo");
  EXPECT_EQ(str("Zm9v"), "foo");
  EXPECT_EQ(str("Zm9vYg=="), "foob");
  EXPECT_EQ(str("Zm9vYmE="), "fooba");
  EXPECT_EQ(str("Zm9vYmFy"), "foobar");
  EXPECT_EQ(str("Zm9vYg"), "foob");  // padding is optional
  EXPECT_EQ(str("+/+/"), std::string("\xfb\xff\xbf", 3));
}

TEST(OpenAIBase64, RoundTripsRandomBytes) {
  std::mt19937 rng(7);
  for (std::size_t n = 0; n < 200; ++n) {
    std::vector<unsigned char> bytes(n);
    for (auto& b : bytes) b = static_cast<unsigned char>(rng());
    EXPECT_EQ(decode(b64(bytes)), bytes) << n;
    EXPECT_EQ(decode(b64(bytes, false)), bytes) << n;
  }
}

TEST(OpenAIBase64, RejectsWhatIsNotBase64) {
  for (const char* bad : {"Zm9v!", "Z", "Zm9vY", "Zm 9v", "Zm9v\n", "Zg=", "Z===", "-_-_", "Zg==Zg=="}) {
    std::vector<unsigned char> out(openai::base64_decoded_size(bad) + 8);
    EXPECT_FALSE(openai::base64_decode(bad, out.data())) << bad;
  }
  // One character outside the alphabet anywhere, in a whole group or the last partial one.
  const std::string good = "Zm9vYmFyYmF6cXV4Zm9vYmFyYmF6cXV4Zm9vYmE";
  for (std::size_t i = 0; i < good.size(); ++i)
    for (char c : {'!', '=', '\x80', '\0', '-'}) {
      std::string bad = good;
      bad[i] = c;
      std::vector<unsigned char> out(openai::base64_decoded_size(bad) + 8);
      EXPECT_FALSE(openai::base64_decode(bad, out.data())) << i << " " << int(c);
    }
}

// Long enough for the vectorized blocks (32 characters at a time) and the table decoder's tail: every
// length around a block's edges, and a vector's worth (dimension 1536).
TEST(OpenAIBase64, RoundTripsLongInputsOfEveryLength) {
  std::mt19937 rng(11);
  std::vector<std::size_t> sizes;
  for (std::size_t n = 200; n < 330; ++n) sizes.push_back(n);
  sizes.push_back(6144);
  for (std::size_t n : sizes) {
    std::vector<unsigned char> bytes(n);
    for (auto& b : bytes) b = static_cast<unsigned char>(rng());
    EXPECT_EQ(decode(b64(bytes)), bytes) << n;
    EXPECT_EQ(decode(b64(bytes, false)), bytes) << n;
  }
  // Every character of the alphabet in every position of a block.
  std::string all;
  for (int i = 0; i < 8; ++i) all += "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  for (std::size_t shift = 0; shift < 32; shift += 4) {
    const std::string s = all.substr(shift);
    const auto d = decode(s.substr(0, s.size() / 4 * 4));
    EXPECT_EQ(b64(d), s.substr(0, s.size() / 4 * 4)) << shift;
  }
}

TEST(OpenAIBase64, RejectsEveryByteOutsideTheAlphabetAnywhereInALongInput) {
  std::string good;
  for (int i = 0; i < 4; ++i) good += "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  const std::string alphabet = good.substr(0, 64);
  for (int c = 0; c < 256; ++c) {
    if (alphabet.find(static_cast<char>(c)) != std::string::npos) continue;
    for (std::size_t i : {std::size_t{0}, std::size_t{13}, std::size_t{31}, std::size_t{32}, std::size_t{100},
                          std::size_t{200}, good.size() - 1}) {
      if (c == '=' && i == good.size() - 1) continue;  // padding
      std::string bad = good;
      bad[i] = static_cast<char>(c);
      std::vector<unsigned char> out(openai::base64_decoded_size(bad) + 8);
      EXPECT_FALSE(openai::base64_decode(bad, out.data())) << i << " " << c;
    }
  }
}

TEST(OpenAIBase64, DecodesLittleEndianFloat32) {
  std::vector<float> v = {0.0f, 1.0f, -1.0f, 0.5f, 3.14159f, -1e-30f, 1e30f, 0.0123456789f};
  auto got = openai::decode_float32(b64_floats(v));
  ASSERT_TRUE(got);
  EXPECT_EQ(*got, v);
  // 1.0f is 00 00 80 3F in little-endian: "AACAPw==".
  auto one = openai::decode_float32("AACAPw==");
  ASSERT_TRUE(one);
  ASSERT_EQ(one->size(), 1u);
  EXPECT_EQ((*one)[0], 1.0f);
  EXPECT_FALSE(openai::decode_float32("AACA"));      // 3 bytes: not whole floats
  EXPECT_FALSE(openai::decode_float32("AAC*Pw=="));  // not base64
}

TEST(OpenAIPlan, SplitsByCount) {
  std::vector<std::string> texts(5000, "hello world");
  auto plan = openai::plan_requests(views(texts), 2048, 300000, 8192);
  ASSERT_EQ(plan.size(), 3u);
  EXPECT_EQ(plan[0].end - plan[0].begin, 2048u);
  EXPECT_EQ(plan[1].end - plan[1].begin, 2048u);
  EXPECT_EQ(plan[2].end - plan[2].begin, 904u);
  expect_valid(plan, texts, 2048, 300000);
}

TEST(OpenAIPlan, SplitsByTokens) {
  // 100 texts of 24,000 bytes: 8,000 estimated tokens each, so 37 fit under 300,000.
  std::vector<std::string> texts(100, std::string(24000, 'x'));
  ASSERT_EQ(estimate_tokens(texts[0]), 8000u);
  auto plan = openai::plan_requests(views(texts), 2048, 300000, 8192);
  ASSERT_EQ(plan.size(), 3u);
  EXPECT_EQ(plan[0].end - plan[0].begin, 37u);
  EXPECT_EQ(plan[0].tokens, 296000u);
  expect_valid(plan, texts, 2048, 300000);
}

TEST(OpenAIPlan, MixedSizesRespectBothLimits) {
  std::mt19937 rng(11);
  std::vector<std::string> texts;
  for (int i = 0; i < 3000; ++i)
    texts.emplace_back(rng() % 7 == 0 ? 20000 + rng() % 4000 : 1 + rng() % 900, 'a');
  for (std::size_t spread : {1u, 4u, 16u}) {
    auto plan = openai::plan_requests(views(texts), 100, 50000, 8192, spread);
    expect_valid(plan, texts, 100, 50000);
  }
}

TEST(OpenAIPlan, SpreadsAMediumBatchOverTheConcurrency) {
  std::vector<std::string> texts(1000, "a short chunk of text");
  auto plan = openai::plan_requests(views(texts), 2048, 300000, 8192, 4);
  ASSERT_EQ(plan.size(), 4u);
  for (const auto& s : plan) EXPECT_EQ(s.end - s.begin, 250u);
  // Small batches are not cut into tiny requests.
  std::vector<std::string> few(40, "x");
  EXPECT_EQ(openai::plan_requests(views(few), 2048, 300000, 8192, 4).size(), 1u);
  // Texts of slightly different sizes still make exactly `spread` requests, not a straggler more.
  std::vector<std::string> varied;
  for (int i = 0; i < 1000; ++i) varied.push_back(std::string(480 + (i * 37) % 9, 'v'));
  EXPECT_EQ(openai::plan_requests(views(varied), 2048, 300000, 8192, 4).size(), 4u);
  // ... also when the last texts are the longest (numbered chunks grow a digit at 10 and 100).
  std::vector<std::string> growing;
  for (int i = 0; i < 256; ++i) growing.push_back(std::string(900 + 40 * std::to_string(i).size(), 'g'));
  EXPECT_EQ(openai::plan_requests(views(growing), 256, 300000, 8192, 4).size(), 4u);
  std::vector<std::string> heavy(200, std::string(6000, 'h'));  // 2,000 tokens each: 400,000 in all
  auto hp = openai::plan_requests(views(heavy), 2048, 300000, 8192, 4);
  EXPECT_EQ(hp.size(), 4u);
  expect_valid(hp, heavy, 2048, 300000);
  std::vector<std::string> some(100, "x");  // room for 3 requests of min_spread_inputs (32) or more
  auto p = openai::plan_requests(views(some), 2048, 300000, 8192, 4);
  ASSERT_EQ(p.size(), 3u);
  for (const auto& s : p) EXPECT_GE(s.end - s.begin, openai::min_spread_inputs);
}

TEST(OpenAIPlan, RefusesAnInputOverTheLimitNamingIt) {
  std::vector<std::string> texts = {"fine", "also fine", std::string("Runbook: ") + std::string(30000, 'z'),
                                    "ok"};
  try {
    openai::plan_requests(views(texts), 2048, 300000, 8192);
    FAIL() << "no error";
  } catch (const embed_error& e) {
    std::string m = e.what();
    EXPECT_NE(m.find("input 2"), std::string::npos) << m;
    EXPECT_NE(m.find("Runbook: zzz"), std::string::npos) << m;
    EXPECT_NE(m.find("10003 tokens"), std::string::npos) << m;
    EXPECT_NE(m.find("8192"), std::string::npos) << m;
    EXPECT_EQ(m.find('\n'), std::string::npos);
  }
  // Exactly at the limit is fine: 8192 tokens = 24,576 bytes.
  std::vector<std::string> edge = {std::string(24576, 'y')};
  EXPECT_EQ(openai::plan_requests(views(edge), 2048, 300000, 8192).size(), 1u);
  edge[0].push_back('y');
  EXPECT_THROW(openai::plan_requests(views(edge), 2048, 300000, 8192), embed_error);
}

TEST(OpenAIPlan, RefusesAnEmptyInput) {
  std::vector<std::string> texts = {"a", ""};
  EXPECT_THROW(openai::plan_requests(views(texts), 2048, 300000, 8192), embed_error);
}

TEST(OpenAIResponse, PutsShuffledDataBackInOrder) {
  std::vector<std::vector<float>> v = {{1, 0, 0}, {0, 1, 0}, {0, 0, 1}, {0.5f, 0.5f, 0}};
  std::string body =
      R"({"object":"list","model":"m","usage":{"prompt_tokens":12,"total_tokens":12},"data":[)";
  const int order[] = {2, 0, 3, 1};
  for (int k = 0; k < 4; ++k) {
    int i = order[k];
    if (k) body += ",";
    // Mixed: base64 for some, float arrays for others (a server that ignores encoding_format).
    if (i % 2)
      body += R"({"object":"embedding","index":)" + std::to_string(i) + R"(,"embedding":")" +
              b64_floats(v[i]) + "\"}";
    else
      body += R"({"object":"embedding","index":)" + std::to_string(i) + R"(,"embedding":[)" +
              std::to_string(v[i][0]) + "," + std::to_string(v[i][1]) + "," + std::to_string(v[i][2]) + "]}";
  }
  body += "]}";
  auto got = openai::parse_response(body, 4, 3, "test");
  EXPECT_EQ(got.vectors, v);
  EXPECT_EQ(got.prompt_tokens, 12);
}

TEST(OpenAIResponse, RefusesMissingDuplicateAndMisshapenData) {
  auto item = [](int index, const std::string& emb) {
    return R"({"object":"embedding","index":)" + std::to_string(index) + R"(,"embedding":)" + emb + "}";
  };
  auto body = [](const std::string& items) { return R"({"object":"list","data":[)" + items + "]}"; };
  auto fails = [](const std::string& b, std::size_t n, const char* expect) {
    try {
      openai::parse_response(b, n, 2, "where");
      ADD_FAILURE() << "no error for " << b;
    } catch (const embed_error& e) {
      EXPECT_NE(std::string(e.what()).find(expect), std::string::npos) << e.what();
    }
  };
  fails(body(item(0, "[1,2]")), 2, "missing 1");
  fails(body(item(0, "[1,2]") + "," + item(0, "[1,2]")), 2, "twice");
  fails(body(item(0, "[1,2]") + "," + item(2, "[1,2]")), 2, "index 2");
  fails(body(item(0, "[1,2]") + "," + item(1, "[1,2,3]")), 2, "dimension 3, expected 2");
  fails(body(item(0, "[1,2]") + "," + item(1, "\"AACAPw==\"")), 2, "dimension 1, expected 2");
  fails(body(item(0, "[1,2]") + "," + item(1, "\"not base64!\"")), 2, "not base64");
  fails(body(item(0, "[1,\"x\"]")), 1, "not a number");
  fails(R"({"error":{"message":"nope"}})", 1, "no \"data\"");
  fails("<html>", 1, "not JSON");
  fails(body(item(-1, "[1,2]")), 1, "index -1");
}

// With simdjson's padding (as the HTTP engine's bodies have) an answer of base64 vectors is read by a
// walk over its index; without it, by the whole parse. Both must read every answer alike: the same
// vectors and tokens, or the same error (the walk leaves every answer it does not expect to the parse).
TEST(OpenAIResponse, TheWalkReadsWhatTheWholeParseReads) {
  const std::vector<std::vector<float>> v = {{1.5f, -2}, {0.25f, 3}, {-0.0f, 1e-30f}};
  auto item = [&](int index, const std::string& extra = "") {
    return R"({"object":"embedding","index":)" + std::to_string(index) + R"(,"embedding":")" +
           b64_floats(v[static_cast<std::size_t>(index)]) + "\"" + extra + "}";
  };
  const std::string all = item(2) + "," + item(0) + "," + item(1);
  const std::string usage = R"("usage":{"prompt_tokens":7,"total_tokens":7})";
  const std::vector<std::string> answers = {
      R"({"object":"list","data":[)" + all + "]," + usage + "}",
      "{" + usage + R"(,"data":[)" + all + R"(],"model":"m"})",      // usage first
      R"({"data":[)" + all + "]}",                                   // no usage
      R"({"data":[)" + all + R"(],"usage":{"prompt_tokens":"7"}})",  // tokens of another type
      R"({"data":[)" + all +
          R"(],"usage":{"prompt_tokens":7,"prompt_tokens":9}})",  // the first counts (parsed)
      R"({"data":[)" + all + R"(],"data":[]})",                   // the first counts
      R"({"data":[)" + item(0) + "," + item(1, R"(,"index":0)") + "," + item(2) + "]}",  // repeated index
      R"({"data":[)" + item(0) + "," + item(1) + "," +
          R"({"index":2,"embedding":"AAAAAAAA\/AA="}]})",  // an escape: parsed whole
      R"({"data":[)" + item(0) + "," + item(1) + R"(,{"index":2,"embedding":[0,1]}]})",  // a list
      R"({"data":[)" + item(0) + "," + item(1) + "]}",                                   // one missing
      R"({"data":[)" + item(0) + "," + item(1) + "," + item(1) + "]}",                   // one twice
      R"({"data":[)" + item(0) + "," + item(1) + "," + item(3 - 3) + "]}",
      R"({"data":[)" + item(0) + "," + item(1) + R"(,{"index":2,"embedding":"AAAAAA=="}]})",      // short
      R"({"data":[)" + item(0) + "," + item(1) + R"(,{"index":2,"embedding":"AACAfwAAAAA="}]})",  // inf
      R"({"data":[)" + item(0) + "," + item(1) + R"(,{"index":2,"embedding":"AAAAAAAAAA!="}]})",
      R"({"data":[)" + item(0) + "," + item(1) + R"(,{"index":2.0,"embedding":"AAAAAAAAAAA="}]})",
      R"({"data":[)" + all + "]} x",                // not one JSON value
      R"({"data":[)" + all + R"(],"model":nul})",   // a broken literal where nothing is read
      R"({"data":[)" + all + R"(],"model":"m",})",  // a trailing comma
      R"([{"data":[]}])",
  };
  auto read = [](const std::string& body) -> std::string {
    try {
      auto got = openai::parse_response(body, 3, 2, "where");
      std::string out = "tokens " + std::to_string(got.prompt_tokens);
      for (const auto& vec : got.vectors)
        for (float f : vec) out += " " + std::to_string(f);
      return out;
    } catch (const embed_error& e) {
      return std::string("error: ") + e.what();
    }
  };
  constexpr std::size_t walked = 4;  // the first four are read by the walk; it leaves the rest to the parse
  for (std::size_t k = 0; k < answers.size(); ++k) {
    std::string padded = answers[k];
    padded.reserve(padded.size() + simdjson::SIMDJSON_PADDING);
    std::string bare = answers[k];
    bare.shrink_to_fit();
    ASSERT_LT(bare.capacity(), bare.size() + simdjson::SIMDJSON_PADDING);
    EXPECT_EQ(read(padded), read(bare)) << answers[k];
    EXPECT_EQ(openai::walk_answer(padded, 3, 2).has_value(), k < walked) << answers[k];
    EXPECT_FALSE(openai::walk_answer(bare, 3, 2)) << "no padding: " << answers[k];
  }
  std::string first = answers[0];
  first.reserve(first.size() + simdjson::SIMDJSON_PADDING);
  std::string expected = "tokens 7";
  for (const auto& vec : v)
    for (float f : vec) expected += " " + std::to_string(f);
  EXPECT_EQ(read(first), expected);
  std::string no_usage = answers[2];
  no_usage.reserve(no_usage.size() + simdjson::SIMDJSON_PADDING);
  EXPECT_EQ(openai::walk_answer(no_usage, 3, 2)->prompt_tokens, -1);
}

TEST(OpenAIEmbedder, ConfigurationIsCheckedAndIdentityNamesTheSpace) {
  openai_options o;
  o.model = "text-embedding-3-small";
  o.api_key = "sk-test-0123456789abcdef";
  openai_embedder e(o);
  EXPECT_EQ(e.identity(), "openai:text-embedding-3-small:1536");
  EXPECT_EQ(e.dimension(), 1536);
  EXPECT_EQ(e.max_batch(), 2048u * 4);
  EXPECT_EQ(e.max_input_tokens(), 8192u);
  EXPECT_EQ(e.describe().find(o.api_key), std::string::npos);

  o.dimensions = 256;
  EXPECT_EQ(openai_embedder(o).identity(), "openai:text-embedding-3-small:256");
  o.dimensions = 0;
  o.model = "text-embedding-3-large";
  EXPECT_EQ(openai_embedder(o).dimension(), 3072);
  o.model = "text-embedding-ada-002";
  EXPECT_EQ(openai_embedder(o).dimension(), 1536);

  auto refused = [](openai_options bad) { EXPECT_THROW(openai_embedder{bad}, config_error); };
  openai_options unknown = o;
  unknown.model = "nomic-embed-text";
  unknown.base_url = "http://127.0.0.1:11434/v1";
  refused(unknown);  // no known dimension
  unknown.dimensions = 768;
  unknown.api_key = "";  // a local server needs no key
  EXPECT_EQ(openai_embedder(unknown).identity(), "openai:nomic-embed-text:768");
  openai_options no_key = o;
  no_key.api_key = "";
  refused(no_key);  // api.openai.com does
  openai_options padded = o;
  padded.api_key = "  sk-test-0123456789abcdef\n";
  EXPECT_EQ(openai_embedder(padded).options().api_key, "sk-test-0123456789abcdef");
  openai_options broken = o;
  broken.api_key = "sk-one\nsk-two";
  refused(broken);
  openai_options many = o;
  many.max_inputs = 4096;
  refused(many);
  openai_options conc = o;
  conc.concurrency = 0;
  refused(conc);
  openai_options tokens = o;
  tokens.max_tokens_per_request = 100;
  refused(tokens);
}
