#include "coordinator/knowledge/chunker.h"

#include <gtest/gtest.h>

#include <random>

namespace shardserve::knowledge {
namespace {

size_t count_chars(std::string_view s) {
  size_t n = 0;
  for (char c : s) n += (static_cast<unsigned char>(c) & 0xC0) != 0x80;
  return n;
}

void expect_well_formed(std::string_view text, const std::vector<TextChunk>& chunks,
                        const ChunkOptions& o) {
  ASSERT_FALSE(chunks.empty());
  for (size_t i = 0; i < chunks.size(); ++i) {
    const TextChunk& c = chunks[i];
    EXPECT_EQ(c.text, text.substr(c.begin, c.end - c.begin));
    EXPECT_LE(count_chars(c.text), o.max_chars);
    EXPECT_FALSE(c.text.empty());
    // Never a cut inside a UTF-8 sequence.
    if (c.begin < text.size()) {
      EXPECT_NE(static_cast<unsigned char>(text[c.begin]) & 0xC0, 0x80);
    }
    if (c.end < text.size()) {
      EXPECT_NE(static_cast<unsigned char>(text[c.end]) & 0xC0, 0x80);
    }
    if (i > 0) {
      EXPECT_GT(c.begin, chunks[i - 1].begin);
    }
  }
}

TEST(Chunker, ShortTextIsOneChunk) {
  std::vector<TextChunk> c = chunk_text("  hello world \n");
  ASSERT_EQ(c.size(), 1u);
  EXPECT_EQ(c[0].text, "hello world");
  EXPECT_EQ(c[0].begin, 2u);
  EXPECT_EQ(c[0].end, 13u);
  EXPECT_TRUE(chunk_text("").empty());
  EXPECT_TRUE(chunk_text(" \n\n ").empty());
}

TEST(Chunker, OverlapAndWordBoundaries) {
  std::string text;
  for (int i = 0; i < 400; ++i) text += "word" + std::to_string(i) + " ";
  ChunkOptions o{200, 50};
  std::vector<TextChunk> chunks = chunk_text(text, o);
  expect_well_formed(text, chunks, o);
  ASSERT_GT(chunks.size(), 5u);
  for (size_t i = 0; i + 1 < chunks.size(); ++i) {
    // Cut at a space, never inside a word.
    EXPECT_EQ(text[chunks[i].end], ' ');
    EXPECT_TRUE(chunks[i + 1].begin == 0 || text[chunks[i + 1].begin - 1] == ' ');
    // The next chunk starts inside this one, close to `overlap` characters before its end.
    const size_t overlap = chunks[i].end - chunks[i + 1].begin;
    EXPECT_GE(overlap, 30u);
    EXPECT_LE(overlap, 50u);
  }
}

TEST(Chunker, PrefersParagraphThenSentence) {
  const std::string para = std::string(120, 'a') + ". " + std::string(60, 'b') + "\n\n";
  std::string text = para + para + para;
  ChunkOptions o{250, 40};
  std::vector<TextChunk> chunks = chunk_text(text, o);
  expect_well_formed(text, chunks, o);
  EXPECT_EQ(chunks[0].end, para.size() - 2);  // ends at the paragraph break

  const std::string sentences = std::string(150, 'x') + ". " + std::string(150, 'y') + ".";
  chunks = chunk_text(sentences, ChunkOptions{200, 20});
  EXPECT_EQ(chunks[0].text, std::string(150, 'x') + ".");
}

TEST(Chunker, NoSplitInsideUtf8AndHardCuts) {
  std::string text;
  for (int i = 0; i < 3000; ++i)
    text += (i % 3 == 0) ? "\xE2\x82\xAC" : (i % 3 == 1 ? "\xC3\xA9" : "\xF0\x9F\x98\x80");
  ChunkOptions o{100, 30};  // no spaces at all: every cut is a hard cut at 100 characters
  std::vector<TextChunk> chunks = chunk_text(text, o);
  expect_well_formed(text, chunks, o);
  EXPECT_EQ(count_chars(chunks[0].text), 100u);
  EXPECT_EQ(chunks.back().end, text.size());
}

TEST(Chunker, RandomTextsCoverEverything) {
  std::mt19937 rng(7);
  const char* pieces[] = {"alpha ", "b. ", "\n\n",        "\xC3\xA9t\xC3\xA9 ",
                          "x",      "?\n", "\xE4\xB8\xAD"};
  for (int round = 0; round < 50; ++round) {
    std::string text;
    const int n = 1 + static_cast<int>(rng() % 2000);
    for (int i = 0; i < n; ++i) text += pieces[rng() % 7];
    ChunkOptions o{10 + rng() % 300, 0};
    o.overlap_chars = rng() % o.max_chars;
    std::vector<TextChunk> chunks = chunk_text(text, o);
    expect_well_formed(text, chunks, o);
    // Every non-space byte lies in some chunk.
    std::vector<bool> covered(text.size());
    for (const TextChunk& c : chunks)
      for (size_t b = c.begin; b < c.end; ++b) covered[b] = true;
    for (size_t b = 0; b < text.size(); ++b) {
      if (text[b] != ' ' && text[b] != '\n') {
        ASSERT_TRUE(covered[b]) << "byte " << b;
      }
    }
  }
}

}  // namespace
}  // namespace shardserve::knowledge
