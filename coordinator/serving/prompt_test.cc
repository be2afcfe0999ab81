// Tests of the prompt tokens of chat and completions requests (prompt.h) on a small Gemma-like
// vocabulary built in memory, and on Gemma 3's own when scripts/fetch-models has fetched it:
// one BOS for a template that writes `{{ bos_token }}`, Gemma 3's template over a system
// message.
#include "coordinator/serving/prompt.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <initializer_list>
#include <memory>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "model/gguf/testing/gguf_builder.h"

namespace shardserve {
namespace {

using gguf::ValueType;
using gguf::testing::GgufBuilder;

constexpr TokenId kBos = 2, kStartOfTurn = 4, kEndOfTurn = 5, kFirstByte = 6;
constexpr const char* kGemma3Template = "model/chat_template/testdata/gemma3.jinja";
constexpr const char* kGemma3Model = "models/gemma-3-270m-q4_k_m.gguf";

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

ChatTemplate parse(std::string_view source) {
  auto tmpl = ChatTemplate::parse(source);
  EXPECT_TRUE(tmpl.ok()) << tmpl.error().message;
  return std::move(tmpl).value();
}

// <pad> <eos> <bos> <unk> <start_of_turn> <end_of_turn>, then the 256 byte tokens; BOS added.
struct TinyModel {
  std::vector<uint8_t> image;
  std::unique_ptr<gguf::File> file;
  ServedModel model;
};

std::unique_ptr<TinyModel> tiny_model(std::string_view chat_template) {
  std::vector<std::string> tokens = {"<pad>", "<eos>",           "<bos>",
                                     "<unk>", "<start_of_turn>", "<end_of_turn>"};
  std::vector<int32_t> types = {3, 3, 3, 2, 3, 3};
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
      .kv_u32("tokenizer.ggml.eos_token_id", 1)
      .kv_bool("tokenizer.ggml.add_bos_token", true)
      .kv_bool("tokenizer.ggml.add_space_prefix", false);
  auto m = std::make_unique<TinyModel>();
  m->image = b.build();
  auto file = gguf::File::parse(m->image);
  EXPECT_TRUE(file.ok()) << file.error().message;
  m->file = std::move(file).value();
  auto tokenizer = Tokenizer::from_gguf(*m->file);
  EXPECT_TRUE(tokenizer.ok()) << tokenizer.error().message;
  m->model.name = "tiny";
  m->model.tokenizer = std::move(tokenizer).value();
  if (!chat_template.empty()) m->model.chat_template = parse(chat_template);
  return m;
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

api::ChatCompletionRequest chat_turns(std::vector<std::pair<std::string, std::string>> turns) {
  api::ChatCompletionRequest r;
  r.model = "tiny";
  for (auto& [role, content] : turns)
    r.messages.push_back({.role = std::move(role), .content = std::move(content)});
  return r;
}

api::ChatCompletionRequest chat(std::string content) {
  return chat_turns({{"user", std::move(content)}});
}

// Gemma 3, Llama 3.x and Phi-3 templates write `{{ bos_token }}` and their vocabularies add
// BOS: the prompt starts with one BOS, not two.
TEST(ChatPrompt, TemplateThatWritesBosTokenGivesOneBos) {
  auto m = tiny_model(
      "{{ bos_token }}{% for m in messages %}<start_of_turn>{{ m.content }}"
      "{% endfor %}");
  auto ids = chat_prompt(m->model, chat("Hi"));
  ASSERT_TRUE(ids.ok()) << ids.error().message;
  EXPECT_EQ(*ids, concat({{kBos, kStartOfTurn}, bytes("Hi")}));
}

TEST(ChatPrompt, TemplateWithoutBosTokenGetsTheVocabularysBos) {
  auto m = tiny_model("{% for m in messages %}{{ m.content }}{% endfor %}");
  auto ids = chat_prompt(m->model, chat("Hi"));
  ASSERT_TRUE(ids.ok()) << ids.error().message;
  EXPECT_EQ(*ids, concat({{kBos}, bytes("Hi")}));
}

// Gemma 3's template has no system role: the system text and a blank line start the first
// user turn; the assistant is "model"; the generation prompt opens a model turn.
TEST(ChatPrompt, Gemma3TemplateWithSystemMessage) {
  auto m = tiny_model(read_file(kGemma3Template));
  auto ids = chat_prompt(m->model, chat_turns({{"system", "Be brief."},
                                               {"user", "Hi"},
                                               {"assistant", "Hello!"},
                                               {"user", "  How are you?\n"}}));
  ASSERT_TRUE(ids.ok()) << ids.error().message;
  EXPECT_EQ(*ids, concat({{kBos, kStartOfTurn},
                          bytes("user\nBe brief.\n\nHi"),
                          {kEndOfTurn},
                          bytes("\n"),
                          {kStartOfTurn},
                          bytes("model\nHello!"),
                          {kEndOfTurn},
                          bytes("\n"),
                          {kStartOfTurn},
                          bytes("user\nHow are you?"),
                          {kEndOfTurn},
                          bytes("\n"),
                          {kStartOfTurn},
                          bytes("model\n")}));

  // Roles that do not alternate are the template's error, a 400 about "messages".
  ids = chat_prompt(m->model, chat_turns({{"user", "a"}, {"user", "b"}}));
  ASSERT_FALSE(ids.ok());
  EXPECT_EQ(ids.error().param, "messages");
  EXPECT_NE(ids.error().message.find("Conversation roles must alternate"), std::string::npos)
      << ids.error().message;
}

// Gemma 3's vocabulary: llama.cpp's ids for this conversation (docs/model-families.md §5),
// one BOS although the template writes <bos>.
TEST(ChatPrompt, Gemma3ModelFileGivesLlamaCppIds) {
  if (!std::filesystem::exists(kGemma3Model))
    GTEST_SKIP() << kGemma3Model << " missing: run scripts/fetch-models";
  auto file = gguf::File::open(kGemma3Model);
  ASSERT_TRUE(file.ok()) << file.error().message;
  auto tokenizer = Tokenizer::from_gguf(**file);
  ASSERT_TRUE(tokenizer.ok()) << tokenizer.error().message;
  ServedModel model;
  model.name = "gemma-3-270m";
  model.tokenizer = std::move(tokenizer).value();
  model.chat_template = parse(read_file(kGemma3Template));
  auto ids = chat_prompt(model, chat("Hello there!\n\nHow are you?"));
  ASSERT_TRUE(ids.ok()) << ids.error().message;
  EXPECT_EQ(*ids, (std::vector<TokenId>{2, 105, 2364, 107, 9259, 993, 236888, 108, 3910, 659, 611,
                                        236881, 106, 107, 105, 4368, 107}));
}

TEST(ChatPrompt, NoTemplateOrAFailingOneIsA400AboutMessages) {
  auto none = tiny_model("");
  auto ids = chat_prompt(none->model, chat("Hi"));
  ASSERT_FALSE(ids.ok());
  EXPECT_EQ(ids.error().status, 400);
  EXPECT_EQ(ids.error().param, "messages");

  auto failing = tiny_model("{{ raise_exception('roles must alternate') }}");
  ids = chat_prompt(failing->model, chat("Hi"));
  ASSERT_FALSE(ids.ok());
  EXPECT_EQ(ids.error().status, 400);
  EXPECT_EQ(ids.error().param, "messages");
  EXPECT_NE(ids.error().message.find("roles must alternate"), std::string::npos);
}

// Completions text is the prompt as the client wrote it (as llama-server takes it): a BOS text
// in it is kept beside the vocabulary's BOS.
TEST(CompletionPrompts, TextIsTokenizedAsGivenAndIdsAreChecked) {
  auto m = tiny_model("");
  api::CompletionRequest r;
  r.model = "tiny";
  r.prompts = {std::string("<bos>Hi"), std::vector<int32_t>{kBos, 7}};
  auto prompts = completion_prompts(m->model, r);
  ASSERT_TRUE(prompts.ok()) << prompts.error().message;
  ASSERT_EQ(prompts->size(), 2u);
  EXPECT_EQ((*prompts)[0], concat({{kBos, kBos}, bytes("Hi")}));
  EXPECT_EQ((*prompts)[1], (std::vector<TokenId>{kBos, 7}));

  r.prompts = {std::vector<int32_t>{kBos, m->model.tokenizer->n_vocab()}};
  prompts = completion_prompts(m->model, r);
  ASSERT_FALSE(prompts.ok());
  EXPECT_EQ(prompts.error().param, "prompt");
}

}  // namespace
}  // namespace shardserve
