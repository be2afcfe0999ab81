// Tests of chat_prompt.h on a small Gemma-like vocabulary built in memory: the text a template
// rendered gets one BOS whether or not it starts with the BOS text (issue 14's double BOS).
// Rendering real templates through these functions: coordinator/serving/prompt_test.cc.
#include "model/tokenizer/chat_prompt.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <initializer_list>
#include <memory>

#include "model/gguf/testing/gguf_builder.h"

namespace shardserve {
namespace {

using gguf::ValueType;
using gguf::testing::GgufBuilder;

// Laid out as Gemma's vocabulary: <pad> <eos> <bos> <unk>, the turn markers (control), "\n"
// and "\n\n" (user-defined), then the 256 byte tokens; no normal tokens, so text is bytes.
constexpr TokenId kEos = 1, kBos = 2, kStartOfTurn = 4, kEndOfTurn = 5, kNewline = 6,
                  kTwoNewlines = 7, kFirstByte = 8;

struct TinyVocab {
  std::vector<uint8_t> image;
  std::unique_ptr<gguf::File> file;
  std::unique_ptr<Tokenizer> tokenizer;
};

std::unique_ptr<TinyVocab> tiny_vocab(bool add_bos, bool add_eos) {
  std::vector<std::string> tokens = {"<pad>",           "<eos>",         "<bos>", "<unk>",
                                     "<start_of_turn>", "<end_of_turn>", "\n",    "\n\n"};
  std::vector<int32_t> types = {3, 3, 3, 2, 3, 3, 4, 4};
  for (int b = 0; b < 256; ++b) {
    char buf[8];
    std::snprintf(buf, sizeof buf, "<0x%02X>", b);
    tokens.push_back(buf);
    types.push_back(6);
  }
  GgufBuilder b;
  b.kv_string("tokenizer.ggml.model", "llama")
      .kv_strings("tokenizer.ggml.tokens", tokens)
      .kv_array("tokenizer.ggml.token_type", ValueType::I32, types)
      .kv_array("tokenizer.ggml.scores", ValueType::F32, std::vector<float>(tokens.size(), 0.0f))
      .kv_u32("tokenizer.ggml.bos_token_id", kBos)
      .kv_u32("tokenizer.ggml.eos_token_id", kEos)
      .kv_u32("tokenizer.ggml.unknown_token_id", 3)
      .kv_u32("tokenizer.ggml.padding_token_id", 0)
      .kv_bool("tokenizer.ggml.add_bos_token", add_bos)
      .kv_bool("tokenizer.ggml.add_eos_token", add_eos)
      .kv_bool("tokenizer.ggml.add_space_prefix", false);
  auto v = std::make_unique<TinyVocab>();
  v->image = b.build();
  auto file = gguf::File::parse(v->image);
  EXPECT_TRUE(file.ok()) << file.error().message;
  if (!file.ok()) return v;
  v->file = std::move(file).value();
  auto tokenizer = Tokenizer::from_gguf(*v->file);
  EXPECT_TRUE(tokenizer.ok()) << tokenizer.error().message;
  if (tokenizer.ok()) v->tokenizer = std::move(tokenizer).value();
  return v;
}

// The byte-fallback tokens of `text`, spaces escaped to U+2581 as SentencePiece does.
std::vector<TokenId> bytes(std::string_view text) {
  std::vector<TokenId> ids;
  for (unsigned char c : text) {
    if (c == ' ') {
      for (unsigned char e : std::string_view("\xE2\x96\x81")) ids.push_back(kFirstByte + e);
    } else {
      ids.push_back(kFirstByte + c);
    }
  }
  return ids;
}

std::vector<TokenId> concat(std::initializer_list<std::vector<TokenId>> parts) {
  std::vector<TokenId> out;
  for (const auto& p : parts) out.insert(out.end(), p.begin(), p.end());
  return out;
}

TEST(ChatPromptTokens, TemplateVariablesAreTheTokenTexts) {
  auto v = tiny_vocab(/*add_bos=*/true, /*add_eos=*/false);
  ASSERT_TRUE(v->tokenizer);
  EXPECT_EQ(chat_bos_token(*v->tokenizer), "<bos>");
  EXPECT_EQ(chat_eos_token(*v->tokenizer), "<eos>");
}

// What Gemma 3's template renders for a system message and a user turn: its <bos> and the
// vocabulary's add_bos give one BOS.
TEST(ChatPromptTokens, RenderedBosTextAndAddBosGiveOneBos) {
  auto v = tiny_vocab(/*add_bos=*/true, /*add_eos=*/false);
  ASSERT_TRUE(v->tokenizer);
  const Tokenizer& t = *v->tokenizer;
  const std::string rendered =
      "<bos><start_of_turn>user\nBe brief.\n\nHi<end_of_turn>\n<start_of_turn>model\n";
  EXPECT_EQ(strip_added_special_texts(rendered, t), rendered.substr(5));
  EXPECT_EQ(encode_chat_prompt(t, rendered), concat({{kBos, kStartOfTurn},
                                                     bytes("user"),
                                                     {kNewline},
                                                     bytes("Be brief."),
                                                     {kTwoNewlines},
                                                     bytes("Hi"),
                                                     {kEndOfTurn, kNewline, kStartOfTurn},
                                                     bytes("model"),
                                                     {kNewline}}));
  // Tokenized as rendered, the prompt would start with two BOS.
  EXPECT_EQ(t.encode(rendered, true, true)[1], kBos);
}

TEST(ChatPromptTokens, RenderedTextWithoutBosTextGetsOneBos) {
  auto v = tiny_vocab(/*add_bos=*/true, /*add_eos=*/false);
  ASSERT_TRUE(v->tokenizer);
  EXPECT_EQ(
      encode_chat_prompt(*v->tokenizer, "<start_of_turn>user\nHi<end_of_turn>\n"),
      concat(
          {{kBos, kStartOfTurn}, bytes("user"), {kNewline}, bytes("Hi"), {kEndOfTurn, kNewline}}));
}

// Without add_bos nothing is stripped: the template's BOS text is the prompt's one BOS.
TEST(ChatPromptTokens, VocabularyWithoutAddBosKeepsTheBosText) {
  auto v = tiny_vocab(/*add_bos=*/false, /*add_eos=*/false);
  ASSERT_TRUE(v->tokenizer);
  const Tokenizer& t = *v->tokenizer;
  EXPECT_EQ(strip_added_special_texts("<bos>Hi", t), "<bos>Hi");
  EXPECT_EQ(encode_chat_prompt(t, "<bos>Hi"), concat({{kBos}, bytes("Hi")}));
  EXPECT_EQ(encode_chat_prompt(t, "Hi"), bytes("Hi"));
}

TEST(ChatPromptTokens, TrailingEosTextIsStrippedOnlyWhenTheVocabularyAddsEos) {
  auto adds = tiny_vocab(/*add_bos=*/true, /*add_eos=*/true);
  auto keeps = tiny_vocab(/*add_bos=*/true, /*add_eos=*/false);
  ASSERT_TRUE(adds->tokenizer && keeps->tokenizer);
  EXPECT_EQ(strip_added_special_texts("<bos>Hi<eos>", *adds->tokenizer), "Hi");
  EXPECT_EQ(encode_chat_prompt(*adds->tokenizer, "<bos>Hi<eos>"),
            concat({{kBos}, bytes("Hi"), {kEos}}));
  EXPECT_EQ(strip_added_special_texts("<bos>Hi<eos>", *keeps->tokenizer), "Hi<eos>");
  EXPECT_EQ(encode_chat_prompt(*keeps->tokenizer, "<bos>Hi<eos>"),
            concat({{kBos}, bytes("Hi"), {kEos}}));
}

// As llama.cpp: one leading BOS text at most, and only at the very start.
TEST(ChatPromptTokens, OnlyOneLeadingBosTextIsStripped) {
  auto v = tiny_vocab(/*add_bos=*/true, /*add_eos=*/false);
  ASSERT_TRUE(v->tokenizer);
  const Tokenizer& t = *v->tokenizer;
  EXPECT_EQ(strip_added_special_texts("<bos><bos>Hi", t), "<bos>Hi");
  EXPECT_EQ(strip_added_special_texts(" <bos>Hi", t), " <bos>Hi");
  EXPECT_EQ(strip_added_special_texts("Hi<bos>", t), "Hi<bos>");
  EXPECT_EQ(strip_added_special_texts("<bos>", t), "");
  EXPECT_EQ(encode_chat_prompt(t, "<bos>"), std::vector<TokenId>{kBos});
  EXPECT_EQ(encode_chat_prompt(t, ""), std::vector<TokenId>{kBos});
}

}  // namespace
}  // namespace shardserve
