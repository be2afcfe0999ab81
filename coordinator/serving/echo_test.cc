// Tests of the completions API's echo (echo.h) on the real tokenizers that scripts/fetch-models
// fetches: SmolLM2's byte-level BPE (no BOS added) and Gemma 3's SentencePiece (BOS added, a
// piece not in the text).
#include "coordinator/serving/echo.h"

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "model/gguf/gguf.h"

namespace shardserve {
namespace {

constexpr const char* kSmolLM2 = "models/SmolLM2-135M-Instruct.Q4_1.gguf";
constexpr const char* kGemma3 = "models/gemma-3-270m-q4_k_m.gguf";

std::unique_ptr<Tokenizer> load(const char* path) {
  auto file = gguf::File::open(path);
  if (!file.ok()) return nullptr;
  auto tokenizer = Tokenizer::from_gguf(**file);
  EXPECT_TRUE(tokenizer.ok()) << tokenizer.error().message;
  return tokenizer.ok() ? std::move(tokenizer).value() : nullptr;
}

// A score for every token of `prompt` but the first: token i gets logprob -i and the top
// alternative prompt[0] at -0.5.
std::vector<ScoredToken> scores_for(const std::vector<TokenId>& prompt) {
  std::vector<ScoredToken> scores;
  for (size_t i = 1; i < prompt.size(); ++i)
    scores.push_back({.token = prompt[i],
                      .logprob = -static_cast<float>(i),
                      .top = {{.token = prompt[0], .logprob = -0.5f}}});
  return scores;
}

TEST(Echo, AStringPromptIsEchoedAsSent) {
  auto tokenizer = load(kSmolLM2);
  if (!tokenizer) GTEST_SKIP() << kSmolLM2 << " missing: run scripts/fetch-models";
  const std::string text = "  two spaces and <|im_start|> as text";
  const auto tokens = tokenizer->encode(text, true, false);
  EXPECT_EQ(echo_text(*tokenizer, api::Prompt{text}, tokens), text);
}

TEST(Echo, TokenIdsAreEchoedWithTheirSpecialTokens) {
  auto tokenizer = load(kSmolLM2);
  if (!tokenizer) GTEST_SKIP() << kSmolLM2 << " missing: run scripts/fetch-models";
  const auto tokens = tokenizer->encode("<|im_start|>user\nHi<|im_end|>", true, true);
  ASSERT_EQ(tokens.size(), 5u);
  EXPECT_EQ(echo_text(*tokenizer, api::Prompt{tokens}, tokens), "<|im_start|>user\nHi<|im_end|>");
}

TEST(Echo, EveryTokenButTheFirstCarriesItsScoreAndItsOffsetInTheText) {
  auto tokenizer = load(kSmolLM2);
  if (!tokenizer) GTEST_SKIP() << kSmolLM2 << " missing: run scripts/fetch-models";
  const std::string text = "The capital of France is Paris.";
  const auto prompt = tokenizer->encode(text, true, false);
  ASSERT_GT(prompt.size(), 3u);
  const auto entries = echo_logprobs(*tokenizer, prompt, scores_for(prompt), text);
  ASSERT_EQ(entries.size(), prompt.size());
  EXPECT_TRUE(entries[0].unscored);
  EXPECT_TRUE(entries[0].top.empty());
  std::string rebuilt;
  for (size_t i = 0; i < entries.size(); ++i) {
    SCOPED_TRACE(i);
    EXPECT_EQ(entries[i].token, tokenizer->token_to_piece(prompt[i]));
    EXPECT_EQ(entries[i].text_offset, static_cast<int64_t>(rebuilt.size()));
    rebuilt += entries[i].token;
    if (i == 0) continue;
    EXPECT_FALSE(entries[i].unscored);
    EXPECT_EQ(entries[i].logprob, -static_cast<double>(i));
    ASSERT_EQ(entries[i].top.size(), 1u);
    EXPECT_EQ(entries[i].top[0].token, tokenizer->token_to_piece(prompt[0]));
    EXPECT_EQ(entries[i].top[0].logprob, -0.5);
  }
  EXPECT_EQ(rebuilt, text);
}

TEST(Echo, APieceTheTextDoesNotHoldTakesItsOffsetWithoutAdvancingIt) {
  auto tokenizer = load(kGemma3);
  if (!tokenizer) GTEST_SKIP() << kGemma3 << " missing: run scripts/fetch-models";
  const std::string text = "Hello world";
  const auto prompt = tokenizer->encode(text, true, false);
  ASSERT_TRUE(tokenizer->add_bos());
  ASSERT_EQ(prompt.size(), 3u);  // <bos> Hello ▁world
  const auto entries = echo_logprobs(*tokenizer, prompt, scores_for(prompt), text);
  ASSERT_EQ(entries.size(), 3u);
  EXPECT_EQ(entries[0].token, "<bos>");
  EXPECT_EQ(entries[0].text_offset, 0);
  EXPECT_EQ(entries[1].token, "Hello");
  EXPECT_EQ(entries[1].text_offset, 0);
  EXPECT_EQ(entries[2].token, " world");
  EXPECT_EQ(entries[2].text_offset, 5);
}

TEST(Echo, ALeadingSpaceTheTextDropsStillAdvancesOverTheRest) {
  auto tokenizer = load(kGemma3);
  if (!tokenizer) GTEST_SKIP() << kGemma3 << " missing: run scripts/fetch-models";
  // The pieces of " world" echoed against a text that starts without its space.
  const auto prompt = tokenizer->encode(" world again", false, false);
  ASSERT_GE(prompt.size(), 2u);
  ASSERT_EQ(tokenizer->token_to_piece(prompt[0]), " world");
  const std::string text = "world again";
  const auto entries = echo_logprobs(*tokenizer, prompt, scores_for(prompt), text);
  EXPECT_EQ(entries[0].text_offset, 0);
  EXPECT_EQ(entries[1].text_offset, 5);
  for (const auto& e : entries) EXPECT_LE(e.text_offset, static_cast<int64_t>(text.size()));
}

}  // namespace
}  // namespace shardserve
