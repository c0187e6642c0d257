#include "backfill/ingest/chunker.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "backfill/core/errors.hpp"
#include "backfill/core/hash.hpp"
#include "backfill/core/json.hpp"

using backfill::chunk_document;
using backfill::chunker_options;
using backfill::document;
using backfill::estimate_tokens;

namespace {

document make_doc(std::string title, std::string text, std::string id = "jira:SUBS-1") {
  document d;
  d.id = std::move(id);
  d.source = "jira";
  d.title = std::move(title);
  d.text = std::move(text);
  return d;
}

chunker_options opts(std::size_t target, std::size_t overlap, std::size_t max = 8000) {
  chunker_options o;
  o.target_tokens = target;
  o.overlap_tokens = overlap;
  o.max_tokens = max;
  return o;
}

// The slice of a chunk (its text without the "title\n\n" prefix).
std::string slice_of(const backfill::chunk& c, const std::string& title) {
  if (title.empty()) return c.text;
  const std::string prefix = title + "\n\n";
  EXPECT_EQ(c.text.compare(0, prefix.size(), prefix), 0) << c.text;
  return c.text.substr(prefix.size());
}

std::string strip_space(std::string_view s) {
  std::string out;
  for (char c : s)
    if (c != ' ' && c != '\n' && c != '\t' && c != '\r') out.push_back(c);
  return out;
}

// Words w0 w1 w2 ... in sentences of 7 words and paragraphs of 4 sentences: every word is unique, so a
// slice's position in the text is unambiguous.
std::string numbered_text(int words) {
  std::string t;
  for (int i = 0; i < words; ++i) {
    t += "w" + std::to_string(i);
    if (i + 1 == words) {
      t += ".";
    } else if (i % 28 == 27) {
      t += ".\n\n";
    } else if (i % 7 == 6) {
      t += ". ";
    } else {
      t += " ";
    }
  }
  return t;
}

}  // namespace

TEST(Chunker, EstimateTokensIsCeilBytesOverThree) {
  EXPECT_EQ(estimate_tokens(""), 0u);
  EXPECT_EQ(estimate_tokens("a"), 1u);
  EXPECT_EQ(estimate_tokens("abc"), 1u);
  EXPECT_EQ(estimate_tokens("abcd"), 2u);
  EXPECT_EQ(estimate_tokens("東京"), 2u);  // 6 bytes
  EXPECT_EQ(estimate_tokens(std::string(3000, 'x')), 1000u);
}

TEST(Chunker, ShortDocumentIsOneChunk) {
  auto doc = make_doc("Login fails", "Users cannot log in since the upgrade.");
  auto chunks = chunk_document(doc, {});
  ASSERT_EQ(chunks.size(), 1u);
  EXPECT_EQ(chunks[0].text, "Login fails\n\nUsers cannot log in since the upgrade.");
  EXPECT_EQ(chunks[0].id, "jira:SUBS-1#0");
  EXPECT_EQ(chunks[0].doc_id, "jira:SUBS-1");
  EXPECT_EQ(chunks[0].index, 0);
  EXPECT_EQ(chunks[0].text_hash, backfill::hash_hex(chunks[0].text));

  auto untitled = chunk_document(make_doc("", "  just text \n"), {});
  ASSERT_EQ(untitled.size(), 1u);
  EXPECT_EQ(untitled[0].text, "just text");
}

TEST(Chunker, EmptyTextGivesOneTitleChunk) {
  for (const char* text : {"", "   ", "\n\n\t \n"}) {
    auto chunks = chunk_document(make_doc("Only a title", text), opts(16, 4, 32));
    ASSERT_EQ(chunks.size(), 1u);
    EXPECT_EQ(chunks[0].text, "Only a title");
    EXPECT_EQ(chunks[0].id, "jira:SUBS-1#0");
  }
  auto nothing = chunk_document(make_doc("", ""), {});
  ASSERT_EQ(nothing.size(), 1u);  // never dropped, even with nothing to say
  EXPECT_EQ(nothing[0].text, "");
  // A title alone is still held to max_tokens.
  auto long_title = chunk_document(make_doc(std::string(100, 'T'), ""), opts(4, 0, 10));
  ASSERT_EQ(long_title.size(), 1u);
  EXPECT_LE(estimate_tokens(long_title[0].text), 10u);
}

TEST(Chunker, LongDocumentSplitsWithinTargetWithOverlap) {
  const std::string title = "SUBS-652 paginator loops";
  const std::string text = numbered_text(3000);
  auto doc = make_doc(title, text);
  const auto o = opts(100, 20, 200);
  auto chunks = chunk_document(doc, o);
  ASSERT_GT(chunks.size(), 10u);

  std::size_t covered = 0;  // text covered so far, as a byte offset
  std::string previous;
  for (std::size_t k = 0; k < chunks.size(); ++k) {
    const auto& c = chunks[k];
    EXPECT_EQ(c.id, "jira:SUBS-1#" + std::to_string(k));
    EXPECT_EQ(c.index, static_cast<int>(k));
    EXPECT_EQ(c.text_hash, backfill::hash_hex(c.text));
    EXPECT_LE(estimate_tokens(c.text), o.target_tokens) << c.text;  // title included
    const std::string s = slice_of(c, title);
    ASSERT_FALSE(s.empty());
    // Each slice is a piece of the text: unique words make its position unambiguous.
    const std::size_t pos = text.find(s);
    ASSERT_NE(pos, std::string::npos) << s;
    if (k == 0) {
      EXPECT_EQ(pos, 0u);
    } else {
      // Starts before where the previous slice ended (overlap), on a word, and moves forward.
      EXPECT_LT(pos, covered);
      EXPECT_EQ(s[0], 'w');
      const std::string first_word = s.substr(0, s.find_first_of(" .\n"));
      EXPECT_NE(previous.find(first_word), std::string::npos)
          << "chunk " << k << " starts with " << first_word << ", not found in the previous chunk";
      // About overlap_tokens worth, never more than that.
      const std::size_t overlap = covered - pos;
      EXPECT_LE(overlap, o.overlap_tokens * 3) << k;
      EXPECT_GE(overlap + 2, o.overlap_tokens * 3 / 2) << k;  // + the whitespace between slices
    }
    EXPECT_GT(pos + s.size(), covered);
    covered = pos + s.size();
    previous = s;
  }
  EXPECT_EQ(covered, text.size());  // nothing lost at the end
  // Each chunk is big: roughly the target, not crumbs.
  for (std::size_t k = 0; k + 1 < chunks.size(); ++k)
    EXPECT_GE(estimate_tokens(chunks[k].text), o.target_tokens / 2) << k;
}

TEST(Chunker, NoOverlapCoversTheTextExactlyOnce) {
  const std::string text = numbered_text(2000);
  auto chunks = chunk_document(make_doc("", text), opts(64, 0, 64));
  std::string joined;
  for (const auto& c : chunks) joined += c.text;
  EXPECT_EQ(strip_space(joined), strip_space(text));
}

TEST(Chunker, PrefersParagraphBreaks) {
  // Paragraphs of ~120 bytes, target 100 tokens (300 bytes): every cut should fall on a blank line.
  std::string text;
  for (int p = 0; p < 40; ++p) {
    text += "Paragraph " + std::to_string(p) + " begins. ";
    for (int s = 0; s < 3; ++s) text += "Some sentence number " + std::to_string(s) + " is here. ";
    text += "It ends.";
    if (p + 1 < 40) text += (p % 2 ? "\n\n" : "\n  \t\n");  // blank lines may hold spaces
  }
  auto chunks = chunk_document(make_doc("T", text), opts(100, 0, 100));
  ASSERT_GT(chunks.size(), 5u);
  for (const auto& c : chunks) {
    const std::string s = slice_of(c, "T");
    EXPECT_EQ(s.rfind("Paragraph ", 0), 0u) << s;
    EXPECT_TRUE(s.ends_with("It ends.")) << s;
  }
}

TEST(Chunker, FallsBackToSentencesThenWhitespace) {
  std::string sentences;
  for (int i = 0; i < 200; ++i) sentences += "This is sentence number " + std::to_string(i) + " of many. ";
  for (const auto& c : chunk_document(make_doc("", sentences), opts(50, 0, 50))) {
    EXPECT_TRUE(c.text.ends_with(".")) << c.text;
    EXPECT_EQ(c.text.rfind("This is", 0), 0u) << c.text;
  }
  std::string lines;  // newlines end sentences too
  for (int i = 0; i < 200; ++i) lines += "log line " + std::to_string(i) + " ok\n";
  for (const auto& c : chunk_document(make_doc("", lines), opts(40, 0, 40))) {
    EXPECT_TRUE(c.text.ends_with(" ok")) << c.text;
    EXPECT_EQ(c.text.rfind("log line", 0), 0u) << c.text;
  }
  std::string words;  // no punctuation at all: cut between words
  for (int i = 0; i < 500; ++i) words += "word" + std::to_string(i) + " ";
  for (const auto& c : chunk_document(make_doc("", words), opts(30, 0, 30))) {
    EXPECT_EQ(c.text.rfind("word", 0), 0u) << c.text;
    EXPECT_NE(c.text.back(), ' ');
  }
  std::string cjk;  // 。 ends sentences
  for (int i = 0; i < 100; ++i) cjk += "東京は大きい都市です。";
  for (const auto& c : chunk_document(make_doc("", cjk), opts(40, 0, 40))) {
    EXPECT_TRUE(c.text.ends_with("。")) << c.text;
    EXPECT_EQ(c.text.rfind("東京", 0), 0u) << c.text;
  }
}

TEST(Chunker, OverlapStartsAtASentenceWhenItCan) {
  std::string text;
  for (int i = 0; i < 300; ++i) text += "Item " + std::to_string(i) + " is fine. ";
  auto chunks = chunk_document(make_doc("", text), opts(50, 15, 50));
  ASSERT_GT(chunks.size(), 10u);
  for (std::size_t k = 0; k < chunks.size(); ++k) {
    EXPECT_EQ(chunks[k].text.rfind("Item ", 0), 0u) << chunks[k].text;
    EXPECT_TRUE(chunks[k].text.ends_with("fine.")) << chunks[k].text;
    if (k > 0) {  // the first sentence of a chunk repeats one from the end of the previous chunk
      const std::string first = chunks[k].text.substr(0, chunks[k].text.find('.') + 1);
      EXPECT_NE(chunks[k - 1].text.find(first), std::string::npos) << first;
    }
  }
}

TEST(Chunker, NeverSplitsACodePoint) {
  // 1-, 2-, 3- and 4-byte code points, with and without spaces, against tiny targets.
  const std::vector<std::string> pieces = {"a", "é", "ß", "東", "京", "😀", "𝄞", " ", "。", "\n"};
  std::mt19937 rng(7);
  for (int round = 0; round < 4; ++round) {
    std::string text;
    for (int i = 0; i < 600; ++i) {
      std::size_t k = rng() % pieces.size();
      if (round % 2 == 1 && (pieces[k] == " " || pieces[k] == "\n")) k = 5;  // no whitespace at all
      text += pieces[k];
    }
    const std::string title = round >= 2 ? "Tïtle 東京" : "";
    for (std::size_t target = 1; target <= 12; ++target) {
      for (std::size_t overlap : {std::size_t{0}, target / 2, target - 1}) {
        const auto o = opts(target, overlap, target);
        auto chunks = chunk_document(make_doc(title, text), o);
        ASSERT_FALSE(chunks.empty());
        std::string joined;
        for (const auto& c : chunks) {
          ASSERT_TRUE(backfill::json::valid_utf8(c.text))
              << "target " << target << " overlap " << overlap << " chunk " << c.index;
          // A 4-byte code point needs 2 tokens: the only way past a budget of 1.
          EXPECT_LE(estimate_tokens(c.text), std::max<std::size_t>(target, 2)) << c.text;
          if (target >= 2) {
            EXPECT_LE(estimate_tokens(c.text), o.max_tokens) << c.text;
          }
        }
        if (overlap == 0 && title.empty()) {
          for (const auto& c : chunks) joined += c.text;
          EXPECT_EQ(strip_space(joined), strip_space(text)) << "target " << target;
        }
      }
    }
  }
}

TEST(Chunker, LongTitleIsCutToLeaveRoomForText) {
  const std::string title(5000, 'T');
  auto chunks = chunk_document(make_doc(title, numbered_text(500)), opts(100, 10, 100));
  ASSERT_GT(chunks.size(), 1u);
  for (const auto& c : chunks) {
    EXPECT_LE(estimate_tokens(c.text), 100u);
    EXPECT_EQ(c.text.rfind("TTTT", 0), 0u);
    EXPECT_NE(c.text.find("\n\nw"), std::string::npos);
  }
}

TEST(Chunker, IsDeterministic) {
  const auto doc = make_doc("title", numbered_text(5000));
  auto a = chunk_document(doc, opts(77, 13, 100));
  auto b = chunk_document(doc, opts(77, 13, 100));
  ASSERT_EQ(a.size(), b.size());
  for (std::size_t i = 0; i < a.size(); ++i) {
    EXPECT_EQ(a[i].id, b[i].id);
    EXPECT_EQ(a[i].text, b[i].text);
    EXPECT_EQ(a[i].text_hash, b[i].text_hash);
  }
}

TEST(Chunker, ValidatesOptions) {
  auto doc = make_doc("t", "text");
  auto expect_error = [&](const chunker_options& o, const std::string& option) {
    try {
      chunk_document(doc, o);
      FAIL() << "accepted " << option;
    } catch (const backfill::config_error& e) {
      EXPECT_NE(std::string(e.what()).find(option), std::string::npos) << e.what();
    }
  };
  expect_error(opts(0, 0), "chunking.target_tokens");
  expect_error(opts(10, 10), "chunking.overlap_tokens");
  expect_error(opts(10, 20), "chunking.overlap_tokens");
  expect_error(opts(100, 10, 99), "chunking.max_tokens");
  EXPECT_NO_THROW(chunk_document(doc, opts(1, 0, 1)));
  EXPECT_NO_THROW(chunk_document(doc, opts(100, 99, 100)));
  const std::size_t huge = std::numeric_limits<std::size_t>::max();
  auto one = chunk_document(doc, opts(huge, huge - 1, huge));  // saturates, no overflow
  ASSERT_EQ(one.size(), 1u);
  EXPECT_EQ(one[0].text, "t\n\ntext");
}

TEST(Chunker, FiveMegabytesFinishesQuickly) {
  std::mt19937 rng(99);
  std::string prose;
  prose.reserve(5'300'000);
  while (prose.size() < 5'000'000) {
    prose += "word" + std::to_string(rng() % 1000);
    const auto r = rng() % 20;
    prose += r == 0 ? ".\n\n" : r < 3 ? ". " : " ";
  }
  const std::string dense(5'000'000, 'x');  // no boundary anywhere: hard cuts only
  std::string spaces = "start";             // a huge whitespace run in the middle
  spaces += std::string(5'000'000, ' ');
  spaces += "end";

  for (const std::string* text : std::vector<const std::string*>{&prose, &dense, &spaces}) {
    const auto t0 = std::chrono::steady_clock::now();
    auto chunks = chunk_document(make_doc("A title", *text), {});
    const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    std::printf("[          ] %zu bytes -> %zu chunks in %.3f s\n", text->size(), chunks.size(), secs);
    ASSERT_FALSE(chunks.empty());
    for (const auto& c : chunks) ASSERT_LE(estimate_tokens(c.text), 512u);
  }
}
