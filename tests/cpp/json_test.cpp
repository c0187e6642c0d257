#include "backfill/core/json.hpp"

#include <gtest/gtest.h>

#include <memory>

#include <cstdio>
#include <string>
#include <utility>
#include <vector>

#include "backfill/core/document.hpp"
#include "backfill/core/errors.hpp"
#include "backfill/core/hash.hpp"
#include "backfill/core/json_tree.hpp"

namespace bj = backfill::json;

TEST(Json, EscapesControlAndQuotes) {
  std::string out;
  bj::append_string(out, "a\"b\\c\n\t\x01");
  EXPECT_EQ(out, R"("a\"b\\c\n\t\u0001")");
}

TEST(Json, KeepsValidUtf8AndReplacesInvalidBytes) {
  std::string out;
  bj::append_string(out,
                    "Gr\xC3\xBC\xC3\x9F"
                    "e \xE6\x9D\xB1 \xF0\x9F\x9A\x80");
  EXPECT_EQ(out, "\"Grüße 東 🚀\"");
  out.clear();
  bj::append_string(out, "x\xFFy\xC3");  // a stray byte and a truncated sequence
  EXPECT_EQ(out, "\"x\xEF\xBF\xBDy\xEF\xBF\xBD\"");
  EXPECT_TRUE(bj::valid_utf8(out));
}

// Escapes next to runs of plain text, at either end and back to back: each byte is written once, in
// order, whatever surrounds it.
TEST(Json, EscapesBetweenRunsOfPlainText) {
  std::string out;
  bj::append_string(out, "\"lead\\ing and trailing\n");
  EXPECT_EQ(out, R"("\"lead\\ing and trailing\n")");
  out.clear();
  bj::append_string(out, "\n\n\"\"\xC3\xA9\xFFok\x1F\xE2\x82\xAC");
  EXPECT_EQ(out, "\"\\n\\n\\\"\\\"\xC3\xA9\xEF\xBF\xBDok\\u001f\xE2\x82\xAC\"");
  out = "prefix:";  // appends to what is there
  bj::append_string(out, "");
  bj::append_string(out, std::string(300, 'x') + "\t" + std::string(300, 'y'));
  EXPECT_EQ(out, "prefix:\"\"\"" + std::string(300, 'x') + "\\t" + std::string(300, 'y') + "\"");
}

// Plain text is skipped eight bytes at a time: every byte value, at every offset of a word and
// near both ends, must still be seen. The expected text is built byte by byte.
TEST(Json, EveryByteIsSeenAtEveryOffset) {
  auto one = [](unsigned char c) -> std::string {
    switch (c) {
      case '"': return "\\\"";
      case '\\': return "\\\\";
      case '\n': return "\\n";
      case '\r': return "\\r";
      case '\t': return "\\t";
      case '\b': return "\\b";
      case '\f': return "\\f";
    }
    if (c < 0x20) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\u%04x", c);
      return buf;
    }
    if (c >= 0x80) return "\xEF\xBF\xBD";  // alone, never a valid sequence
    return std::string(1, static_cast<char>(c));
  };
  for (std::size_t length : {1, 7, 8, 9, 15, 16, 17, 31, 33}) {
    for (std::size_t at = 0; at < length; ++at) {
      for (int c = 0; c < 256; ++c) {
        std::string text(length, 'a');
        text[at] = static_cast<char>(c);
        std::string expected = "\"" + std::string(at, 'a') + one(static_cast<unsigned char>(c)) +
                               std::string(length - at - 1, 'a') + "\"";
        std::string out;
        bj::append_string(out, text);
        ASSERT_EQ(out, expected) << "byte " << c << " at " << at << " of " << length;
      }
    }
  }
}

// Valid UTF-8 is scanned with its non-ASCII bytes taken as plain; escapes among multi-byte
// characters, and an invalid byte after valid ones, must still come out right at any offset.
TEST(Json, EscapesAmongMultibyteCharacters) {
  const std::vector<std::pair<std::string, std::string>> pieces = {{"a", "a"},
                                                                   {"\xC3\xA9", "\xC3\xA9"},
                                                                   {"\xE6\x9D\xB1", "\xE6\x9D\xB1"},
                                                                   {"\xF0\x9F\x9A\x80", "\xF0\x9F\x9A\x80"},
                                                                   {"\n", "\\n"},
                                                                   {"\"", "\\\""},
                                                                   {"\\", "\\\\"},
                                                                   {"\x01", "\\u0001"},
                                                                   {"\x7f", "\x7f"},
                                                                   {"word ", "word "}};
  unsigned seed = 12345;
  auto next = [&] { return (seed = seed * 1103515245u + 12345u) >> 16; };
  for (int round = 0; round < 2000; ++round) {
    std::string text, expected = "\"";
    for (unsigned k = 0, n = next() % 40; k < n; ++k) {
      const auto& [raw, escaped] = pieces[next() % pieces.size()];
      text += raw;
      expected += escaped;
    }
    if (round % 3 == 0) {  // an invalid byte at the end: the text is not valid UTF-8 after all
      text += "\xFF";
      expected += "\xEF\xBF\xBD";
    }
    expected += "\"";
    std::string out;
    bj::append_string(out, text);
    ASSERT_EQ(out, expected) << "round " << round;
  }
}

TEST(Json, NumbersRoundTripAndIntegersHaveNoFraction) {
  std::string out;
  bj::append_number(out, 3.0);
  out += ' ';
  bj::append_number(out, 0.1);
  out += ' ';
  bj::append_number(out, -1e300);
  EXPECT_EQ(out, "3 0.1 -1e+300");
}

TEST(Json, CanonicalizeSortsKeysAndNormalizesNumbers) {
  EXPECT_EQ(bj::canonicalize(R"({"b": 1.0, "a": [true, null, "x"], "c": {"z": 1, "y": 2}})"),
            R"({"a":[true,null,"x"],"b":1,"c":{"y":2,"z":1}})");
  EXPECT_EQ(bj::canonicalize(R"({"a":1})"), bj::canonicalize(R"( { "a" : 1.0 } )"));
  EXPECT_THROW(bj::canonicalize("{\"a\":"), backfill::error);
}

// A tree of its own, as the bindings give write_canonical one: nodes are pointers, numbers print as
// the tree likes, and the writer keeps and releases the tree's scratch around every object.
struct toy {
  bj::value_kind kind = bj::value_kind::null;
  std::string text;
  std::vector<std::pair<std::string, const toy*>> fields;  // object members, or array items (no key)
};
struct toy_tree {
  using node = const toy*;
  using mark = int;
  int kept = 0, released = 0;
  bj::value_kind kind_of(node n) const { return n->kind; }
  bool text(node n, std::string_view& s) const { return (s = n->text), true; }
  bool number(std::string& out, node n) const { return out.append("#").append(n->text), !n->text.empty(); }
  bool members(node n, std::vector<std::pair<std::string_view, node>>& f) const {
    for (auto& [k, v] : n->fields) f.emplace_back(k, v);
    return true;
  }
  template <class F>
  bool elements(node n, F&& each) const {
    for (auto& item : n->fields)
      if (!each(item.second)) return false;
    return true;
  }
  mark keep() { return ++kept; }
  void release(mark) { ++released; }
};

TEST(JsonTree, WritesAnyTreeCanonicallyAndStopsAtWhatItCannotWrite) {
  using K = bj::value_kind;
  toy one{K::number, "1", {}}, s{K::string, "é\"", {}}, t{K::boolean_true, "", {}};
  toy list{K::array, "", {{"", &one}, {"", &s}, {"", &t}}};
  toy inner{K::object, "", {{"z", &one}, {"a", &list}}};
  toy root{K::object, "", {{"b", &inner}, {"a", &t}}};
  toy_tree tree;
  std::string out;
  ASSERT_TRUE(bj::write_canonical(out, tree, &root, 8));
  EXPECT_EQ(out, R"({"a":true,"b":{"a":[#1,"é\"",true],"z":#1}})");
  EXPECT_EQ(tree.kept, 2);
  EXPECT_EQ(tree.released, 2);  // every object gives its scratch back

  EXPECT_FALSE(bj::write_canonical(out, tree, &root, 2));  // nested three deep
  toy other{K::other, "", {}}, empty_number{K::number, "", {}};
  toy with_other{K::object, "", {{"a", &one}, {"x", &other}}};
  toy with_bad_number{K::array, "", {{"", &empty_number}}};
  tree = {};
  EXPECT_FALSE(bj::write_canonical(out, tree, &with_other, 8));
  EXPECT_EQ(tree.released, 1);  // released on the way out of a failed object too
  EXPECT_FALSE(bj::write_canonical(out, tree, &with_bad_number, 8));
}

TEST(Json, ReplacesEscapedNulsOnlyWhereTheyAreEscapes) {
  std::string j = R"({"a\u0000":"x\u0000y","b":"\\u0000","c":"\\\u0000"})";
  EXPECT_EQ(bj::replace_nul_escapes(j), 3u);
  EXPECT_EQ(j, "{\"a\xEF\xBF\xBD\":\"x\xEF\xBF\xBDy\",\"b\":\"\\\\u0000\",\"c\":\"\\\\\xEF\xBF\xBD\"}");
  EXPECT_EQ(bj::canonicalize(j), j);  // U+FFFD as canonical text writes it
  std::string tail = R"(\u0000{"a":"\u0000"})";
  EXPECT_EQ(bj::replace_nul_escapes(tail, 6), 1u);  // only from `from` on
  EXPECT_EQ(tail, "\\u0000{\"a\":\"\xEF\xBF\xBD\"}");
}

TEST(Json, EncodesCodeUnitsOfEachWidthIntoAScratchThatOnlyGrows) {
  const std::uint8_t latin1[] = {'c', 'a', 'f', 0xE9};
  const std::uint16_t ucs2[] = {0x6771, 0x4EAC};
  const std::uint32_t ucs4[] = {'a', 0x1F600};
  std::string scratch;
  std::string_view out;
  ASSERT_TRUE(bj::encode_utf8(latin1, 1, 4, scratch, out));
  EXPECT_EQ(out, "caf\xC3\xA9");
  ASSERT_TRUE(bj::encode_utf8(ucs2, 2, 2, scratch, out));
  EXPECT_EQ(out, "\xE6\x9D\xB1\xE4\xBA\xAC");
  EXPECT_EQ(scratch.size(), 8u);  // room for the four Latin-1 units is kept
  ASSERT_TRUE(bj::encode_utf8(ucs4, 4, 2, scratch, out));
  EXPECT_EQ(out, "a\xF0\x9F\x98\x80");
  const std::uint16_t lone_surrogate[] = {'x', 0xD800};
  EXPECT_FALSE(bj::encode_utf8(lone_surrogate, 2, 2, scratch, out));
}

TEST(Json, Utf8PrefixNeverCutsACodePoint) {
  std::string s = "a東b";  // 1 + 3 + 1 bytes
  EXPECT_EQ(bj::utf8_prefix(s, 1), "a");
  EXPECT_EQ(bj::utf8_prefix(s, 2), "a");
  EXPECT_EQ(bj::utf8_prefix(s, 3), "a");
  EXPECT_EQ(bj::utf8_prefix(s, 4), "a東");
  EXPECT_EQ(bj::utf8_prefix(s, 99), s);
}

TEST(Metadata, ToJsonIsCanonicalAndDropsNonFinite) {
  backfill::metadata m;
  m.set("z", std::string("last"));
  m.set("a", 2.5);
  m.set("n", std::numeric_limits<double>::quiet_NaN());
  m.set("l", std::vector<std::string>{"x", "y"});
  m.set("b", true);
  std::string j = m.to_json();
  EXPECT_EQ(j, R"({"a":2.5,"b":true,"l":["x","y"],"z":"last"})");
  EXPECT_EQ(bj::canonicalize(j), j);
  m.set("a", 3.0);  // set replaces
  EXPECT_EQ(m.fields().size(), 5u);
}

TEST(Hash, FieldsAreLengthPrefixed) {
  backfill::hasher a, b;
  a.field("ab").field("c");
  b.field("a").field("bc");
  EXPECT_NE(a.digest(), b.digest());
  EXPECT_EQ(backfill::hash_hex("x").size(), 32u);
  EXPECT_EQ(backfill::hash_hex("x"), backfill::hash_hex("x"));
}

// Every ledger and index keys on these strings: the high half first, each 16 lowercase digits with
// its leading zeros. XXH3-128 of no bytes is the published test vector.
TEST(Hash, HexIsTheHighHalfThenTheLowOneInLowercaseDigits) {
  EXPECT_EQ(backfill::hash_hex(""), "99aa06d3014798d86001c324468d497f");
  EXPECT_EQ((backfill::hash128{0x0123456789abcdefull, 0xfull}.hex()), "0123456789abcdef000000000000000f");
  EXPECT_EQ((backfill::hash128{0, 0}.hex()), std::string(32, '0'));
  EXPECT_EQ((backfill::hash128{~0ull, ~0ull}.hex()), std::string(32, 'f'));
}
