// TokenFilter tests: masks equal to brute force (every token tried on a copy of the
// matcher) over a synthetic vocabulary with multibyte UTF-8 fragments and invalid bytes,
// along documents and along random constrained generations; end-of-generation and special
// tokens; and, when models/ has it, SmolLM2's real 49k vocabulary with mask timings.
#include "model/grammar/token_filter.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <random>
#include <string>
#include <vector>

#include "model/grammar/test_grammars.h"
#include "model/tokenizer/tokenizer.h"

namespace shardserve {
namespace {

using testing::compile;
using testing::json;

struct Vocab {
  std::vector<std::string> pieces;
  std::vector<TokenId> eog;
  std::vector<uint8_t> special;
};

constexpr TokenId kBos = 0;      // "" : never text
constexpr TokenId kEot = 1;      // end of generation, with bytes of its own
constexpr TokenId kControl = 2;  // flagged special
constexpr TokenId kEos = 3;      // end of generation, ""

// A few thousand tokens: every single byte, JSON-ish pieces, and random strings mixing
// ASCII, whole and split multibyte characters, and bytes that are never valid UTF-8.
Vocab synthetic_vocab(size_t n_random) {
  Vocab v;
  v.pieces = {"", "<|eot|>", "<|control|>", ""};
  v.eog = {kEot, kEos};
  for (int b = 0; b < 256; ++b) v.pieces.push_back(std::string(1, static_cast<char>(b)));
  for (const char* p : {"{",
                        "}",
                        "[",
                        "]",
                        ",",
                        ":",
                        "\"",
                        "\":",
                        "\",",
                        ", \"",
                        "{\"",
                        "\"}",
                        " ",
                        "  ",
                        "\n",
                        "\n  ",
                        "true",
                        "false",
                        "null",
                        "tru",
                        "nul",
                        "0",
                        "12",
                        "-1",
                        ".5",
                        "e+",
                        "E-",
                        "\\",
                        "\\n",
                        "\\u00",
                        "\\\"",
                        "\"\"",
                        "[]",
                        "{}",
                        "name",
                        " name",
                        "\": \"",
                        "\": ",
                        "},{",
                        "caf\xC3\xA9",
                        "\xC3\xA9",
                        "\xE4\xB8\xAD",
                        "\xF0\x9F\x98\x80",
                        "\xC3",
                        "\xA9",
                        "\xF0\x9F"}) {
    v.pieces.push_back(p);
  }
  v.pieces.push_back("name");  // a duplicate of another token's bytes
  const std::vector<std::string> atoms = {"a",
                                          "b",
                                          "z",
                                          "Q",
                                          "0",
                                          "7",
                                          " ",
                                          "\"",
                                          "\\",
                                          "{",
                                          "}",
                                          "[",
                                          "]",
                                          ",",
                                          ":",
                                          "-",
                                          ".",
                                          "e",
                                          "\n",
                                          "\t",
                                          "u",
                                          "n",
                                          "t",
                                          "f",
                                          "\xC3\xA9",
                                          "\xC3\xBC",
                                          "\xE4\xB8\xAD",
                                          "\xE6\x96\x87",
                                          "\xF0\x9F\x98\x80",
                                          "\xF4\x8F\xBF\xBF",
                                          "\xEF\xBF\xBD",
                                          "\xFF",
                                          "\xC0",
                                          "\x80",
                                          "\x01"};
  std::mt19937 rng(1234);
  std::uniform_int_distribution<size_t> pick(0, atoms.size() - 1);
  std::uniform_int_distribution<int> len(1, 6);
  for (size_t i = 0; i < n_random; ++i) {
    std::string s;
    for (int k = len(rng); k > 0; --k) s += atoms[pick(rng)];
    // Cut at arbitrary bytes so tokens start and end inside characters.
    const size_t begin = std::uniform_int_distribution<size_t>(0, s.size() / 3)(rng);
    const size_t end = std::uniform_int_distribution<size_t>(begin + 1, s.size())(rng);
    v.pieces.push_back(s.substr(begin, end - begin));
  }
  v.special.assign(v.pieces.size(), 0);
  v.special[kControl] = 1;
  return v;
}

std::vector<uint8_t> brute_force_mask(const TokenFilter& f, const GrammarMatcher& m,
                                      const Vocab& v) {
  std::vector<uint8_t> allowed(v.pieces.size(), 0);
  for (size_t id = 0; id < v.pieces.size(); ++id) {
    const bool is_eog =
        std::find(v.eog.begin(), v.eog.end(), static_cast<TokenId>(id)) != v.eog.end();
    if (is_eog) {
      allowed[id] = m.can_end();
    } else if (!v.special[id] && !v.pieces[id].empty()) {
      GrammarMatcher trial = m;
      allowed[id] = trial.accept(v.pieces[id]);
    } else if (v.special[id] && !v.pieces[id].empty()) {
      // A control token: only where the grammar names it.
      const int32_t k = m.grammar().token_index(v.pieces[id]);
      GrammarMatcher trial = m;
      allowed[id] = k >= 0 && f.control_token(v.pieces[id]) == static_cast<TokenId>(id) &&
                    trial.accept_token(static_cast<uint32_t>(k));
    }
    EXPECT_EQ(f.allows(m, static_cast<TokenId>(id)), allowed[id] != 0) << "token " << id;
  }
  return allowed;
}

// Mask vs brute force, with the first differing token named.
void expect_mask_matches(const TokenFilter& f, const GrammarMatcher& m, const Vocab& v,
                         const std::string& where) {
  std::vector<uint8_t> mask;
  f.allowed_mask(m, mask);
  const std::vector<uint8_t> expected = brute_force_mask(f, m, v);
  ASSERT_EQ(mask.size(), expected.size());
  for (size_t id = 0; id < mask.size(); ++id) {
    ASSERT_EQ(mask[id], expected[id]) << where << ": token " << id << " '" << v.pieces[id] << "'";
  }
}

TEST(TokenFilterTest, MaskEqualsBruteForceAlongDocuments) {
  const Vocab v = synthetic_vocab(3000);
  const TokenFilter f(v.pieces, v.eog, v.special);
  EXPECT_EQ(f.n_vocab(), static_cast<int32_t>(v.pieces.size()));
  const std::vector<std::string> docs = {
      R"({"name": "caf)"
      "\xC3\xA9 \xE4\xB8\xAD\xF0\x9F\x98\x80\", \"n\": [-1.5e+3, true, null, {}], \"e\": "
      "\"\\u00e9\\n\"}",
      R"([ "a\"b", 0, 12.25, [], [[false]] ] )",
  };
  for (const std::string& doc : docs) {
    GrammarMatcher m(json());
    for (size_t i = 0; i <= doc.size(); ++i) {
      expect_mask_matches(f, m, v, doc.substr(0, i));
      if (HasFatalFailure()) return;
      if (i < doc.size()) {
        ASSERT_TRUE(m.accept(doc.substr(i, 1)));
      }
    }
  }
}

TEST(TokenFilterTest, MaskEqualsBruteForceAlongRandomGenerations) {
  const Vocab v = synthetic_vocab(2000);
  const TokenFilter f(v.pieces, v.eog, v.special);
  std::mt19937 rng(99);
  for (int run = 0; run < 6; ++run) {
    GrammarMatcher m(json());
    std::string text;
    for (int step = 0; step < 60; ++step) {
      std::vector<uint8_t> mask;
      f.allowed_mask(m, mask);
      const std::vector<uint8_t> expected = brute_force_mask(f, m, v);
      ASSERT_EQ(mask, expected) << "after '" << text << "'";
      std::vector<TokenId> choices;
      for (size_t id = 0; id < mask.size(); ++id) {
        if (mask[id] && !f.is_eog(static_cast<TokenId>(id)))
          choices.push_back(static_cast<TokenId>(id));
      }
      if (choices.empty()) break;
      const TokenId t = choices[std::uniform_int_distribution<size_t>(0, choices.size() - 1)(rng)];
      ASSERT_TRUE(f.accept_token(m, t));
      text += v.pieces[t];
    }
  }
}

TEST(TokenFilterTest, EndOfGenerationAndSpecialTokens) {
  const Vocab v = synthetic_vocab(100);
  const TokenFilter f(v.pieces, v.eog, v.special);
  EXPECT_TRUE(f.is_eog(kEot));
  EXPECT_TRUE(f.is_eog(kEos));
  EXPECT_FALSE(f.is_eog(kBos));

  const Grammar g = compile(R"(root ::= "{" "}")");
  GrammarMatcher m(g);
  std::vector<uint8_t> mask;
  f.allowed_mask(m, mask);
  EXPECT_FALSE(mask[kEot]);
  EXPECT_FALSE(mask[kEos]);
  EXPECT_FALSE(mask[kBos]);
  EXPECT_FALSE(mask[kControl]);
  EXPECT_FALSE(f.allows(m, kEot));
  EXPECT_FALSE(f.accept_token(m, kEot));
  EXPECT_FALSE(f.allows(m, -1));
  EXPECT_FALSE(f.allows(m, f.n_vocab()));

  ASSERT_TRUE(m.accept("{}"));
  ASSERT_TRUE(m.is_finished());
  f.allowed_mask(m, mask);
  // Finished: only the end-of-generation tokens are left.
  for (size_t id = 0; id < mask.size(); ++id) {
    const auto t = static_cast<TokenId>(id);
    EXPECT_EQ(mask[id] != 0, t == kEot || t == kEos) << id;
  }
  EXPECT_TRUE(f.accept_token(m, kEos));
  EXPECT_TRUE(m.is_finished());  // unchanged
  EXPECT_FALSE(f.accept_token(m, kBos));
  EXPECT_FALSE(f.accept_token(m, kControl));

  // Special flags win over bytes; an eog token's own bytes do not count as text.
  const Grammar text = compile(R"(root ::= "<|eot|>" | "<|control|>")");
  GrammarMatcher t(text);
  EXPECT_FALSE(f.allows(t, kEot));
  EXPECT_FALSE(f.allows(t, kControl));
}

TEST(TokenFilterTest, ControlTokensAreAllowedWhereTheGrammarNamesThem) {
  const Vocab v = synthetic_vocab(100);
  const TokenFilter f(v.pieces, v.eog, v.special);
  EXPECT_EQ(f.control_token("<|control|>"), kControl);
  EXPECT_EQ(f.control_token("<|eot|>"), -1);  // end of generation, not a control token
  EXPECT_EQ(f.control_token("{"), -1);        // text

  const Grammar g = compile(R"(root ::= "a" @"<|control|>" "b" | "c")");
  GrammarMatcher m(g);
  expect_mask_matches(f, m, v, "start");
  EXPECT_FALSE(f.allows(m, kControl));
  const TokenId byte_a = 4 + 'a';  // the single-byte tokens follow the four specials
  ASSERT_EQ(v.pieces[byte_a], "a");
  ASSERT_TRUE(f.accept_token(m, byte_a));
  expect_mask_matches(f, m, v, "after a");
  std::vector<uint8_t> mask;
  f.allowed_mask(m, mask);
  // Only the token: its text spelled out in text tokens is not it.
  for (size_t id = 0; id < mask.size(); ++id) EXPECT_EQ(mask[id] != 0, id == kControl) << id;
  EXPECT_FALSE(m.can_accept("<|control|>"));
  EXPECT_TRUE(f.accept_token(m, kControl));
  EXPECT_FALSE(f.allows(m, kControl));
  EXPECT_TRUE(m.accept("b"));
  EXPECT_TRUE(m.is_finished());
}

TEST(TokenFilterTest, AcceptTokenAdvancesThroughSplitCharacters) {
  const Vocab v = {{"\"", "\xC3", "\xA9", "\xF0\x9F", "\x98\x80\"", "x"}, {}, {}};
  const TokenFilter f(v.pieces, v.eog, {});
  GrammarMatcher m(json());
  for (TokenId t : {0, 1, 2, 3, 4}) ASSERT_TRUE(f.accept_token(m, t)) << t;
  EXPECT_TRUE(m.can_end());
  EXPECT_FALSE(f.accept_token(m, 5));

  GrammarMatcher mid(json());
  ASSERT_TRUE(f.accept_token(mid, 0));
  ASSERT_TRUE(f.accept_token(mid, 1));  // "\xC3" pending
  std::vector<uint8_t> mask;
  f.allowed_mask(mid, mask);
  EXPECT_EQ(mask, (std::vector<uint8_t>{0, 0, 1, 0, 0, 0}));
}

// Times allowed_mask at a matcher state: the best of `reps` runs, in microseconds.
double time_mask(const TokenFilter& f, const GrammarMatcher& m, int reps, size_t& n_allowed) {
  std::vector<uint8_t> mask;
  double best = 1e30;
  for (int r = 0; r < reps; ++r) {
    const auto t0 = std::chrono::steady_clock::now();
    f.allowed_mask(m, mask);
    const auto t1 = std::chrono::steady_clock::now();
    best = std::min(best, std::chrono::duration<double, std::micro>(t1 - t0).count());
  }
  n_allowed = static_cast<size_t>(std::count(mask.begin(), mask.end(), 1));
  return best;
}

TEST(TokenFilterTest, SyntheticMaskTiming) {
  const Vocab v = synthetic_vocab(49000);
  const TokenFilter f(v.pieces, v.eog, v.special);
  GrammarMatcher m(json());
  ASSERT_TRUE(m.accept(R"({"name": "ab)"));
  size_t n_allowed = 0;
  const double us = time_mask(f, m, 20, n_allowed);
  std::printf(
      "[ timing ] synthetic vocab %d tokens (%zu trie nodes), JSON in a string: %.1f us, "
      "%zu allowed\n",
      f.n_vocab(), f.n_trie_nodes(), us, n_allowed);
}

constexpr const char* kSmolLM = "models/SmolLM2-135M-Instruct.Q4_1.gguf";

TEST(TokenFilterTest, RealVocabularyMaskEqualsBruteForce) {
  if (!std::filesystem::exists(kSmolLM)) GTEST_SKIP() << kSmolLM << " not present";
  auto file = gguf::File::open(kSmolLM);
  ASSERT_TRUE(file.ok()) << file.error().message;
  auto tok = Tokenizer::from_gguf(**file);
  ASSERT_TRUE(tok.ok()) << tok.error().message;
  const Tokenizer& t = **tok;

  Vocab v;
  v.pieces.resize(static_cast<size_t>(t.n_vocab()));
  v.special.assign(v.pieces.size(), 0);
  for (TokenId id = 0; id < t.n_vocab(); ++id) {
    v.special[id] = t.is_special(id);
    if (!v.special[id]) v.pieces[id] = t.token_to_piece(id);
    if (t.is_end_of_generation(id)) v.eog.push_back(id);
  }
  const auto b0 = std::chrono::steady_clock::now();
  const TokenFilter f(v.pieces, v.eog, v.special);
  const double build_ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - b0).count();
  std::printf("[ timing ] SmolLM2 vocab %d tokens, %zu trie nodes, %zu eog, built in %.1f ms\n",
              f.n_vocab(), f.n_trie_nodes(), v.eog.size(), build_ms);

  const std::vector<std::pair<std::string, std::string>> states = {
      {"start", ""},
      {"after '{'", "{"},
      {"in a key", R"({"na)"},
      {"after a key", R"({"name")"},
      {"in a string value", R"({"name": "The quick brown)"},
      {"mid UTF-8 character", "{\"name\": \"caf\xC3"},
      {"in a number", R"({"name": "x", "n": 12)"},
      {"in an array", R"({"name": "x", "l": [true, )"},
      {"complete", R"({"name": "x"})"},
  };
  for (const auto& [name, prefix] : states) {
    GrammarMatcher m(json());
    ASSERT_TRUE(m.accept(prefix)) << name;
    size_t n_allowed = 0;
    const double us = time_mask(f, m, 20, n_allowed);
    const auto b1 = std::chrono::steady_clock::now();
    expect_mask_matches(f, m, v, name);
    const double brute_ms =
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - b1).count();
    std::printf(
        "[ timing ] SmolLM2 JSON mask %-20s %8.1f us  (%5zu allowed; brute force %.0f ms)\n",
        name.c_str(), us, n_allowed, brute_ms);
  }
}

}  // namespace
}  // namespace shardserve
