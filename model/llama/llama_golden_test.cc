// The forward pass against llama.cpp on the default model (tests/golden/, made by
// tests/golden/make_generation_golden.py): greedy continuations token for token, top
// logits within a tolerance, and batching that does not change any sequence's result.
//
// The 135M model is chaotic: a one-ulp difference in one layer grows to 0.05-0.2 in the logits
// after 30 layers, and several golden prompts have near-ties (top two logits within 0.01), so
// agreement needs llama.cpp's CPU arithmetic, not just its math. The kernels reproduce it
// (Q4_1 / Q8_0 dots in ggml's 8-lane order, ggml's exp polynomial in softmax and SiLU, its
// f16 attention product orders, fused multiply-adds in RoPE, squares rounded to float in
// RMSNorm), and measured on AVX-512, AVX2 and scalar kernels alike, all 10 prompts match for
// 32 tokens and every recorded logit is bit-identical to llama.cpp's (max difference 0). The
// thresholds below leave room for a C library whose expf / sinf / cosf round differently.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "model/llama/llama_model.h"

namespace shardserve {
namespace {

constexpr const char* kModel = "models/SmolLM2-135M-Instruct.Q4_1.gguf";
constexpr const char* kGolden = "tests/golden/generation_golden.json";
constexpr int kCompareTokens = 32;

struct GoldenCase {
  std::string prompt;
  std::vector<TokenId> prompt_tokens, greedy;
  nlohmann::json top_logits;
};

class LlamaGolden : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (!std::filesystem::exists(kModel)) return;
    auto f = gguf::File::open(kModel);
    ASSERT_TRUE(f.ok()) << f.error().message;
    file_ = std::move(*f).release();
    std::ifstream in(kGolden);
    ASSERT_TRUE(in.good()) << kGolden;
    nlohmann::json j = nlohmann::json::parse(in);
    for (auto& c : j["cases"])
      cases_.push_back({c["prompt"], c["prompt_tokens"].get<std::vector<TokenId>>(),
                        c["greedy_tokens"].get<std::vector<TokenId>>(), c["top_logits"]});
  }
  static void TearDownTestSuite() {
    delete file_;
    file_ = nullptr;
  }
  void SetUp() override {
    if (!file_) GTEST_SKIP() << kModel << " absent: run scripts/fetch-models";
  }

  static std::unique_ptr<LlamaModel> load(int tp = 1, int rank = 0) {
    auto m = LlamaModel::load(*file_, tp, rank);
    EXPECT_TRUE(m.ok()) << m.error().message;
    return m.ok() ? std::move(*m) : nullptr;
  }

  static gguf::File* file_;
  static std::vector<GoldenCase> cases_;
};
gguf::File* LlamaGolden::file_ = nullptr;
std::vector<GoldenCase> LlamaGolden::cases_;

TokenId argmax(const float* row, int64_t n) {
  return static_cast<TokenId>(std::max_element(row, row + n) - row);
}

// Greedy decoding of one prompt alone; also returns each step's logits row.
std::vector<TokenId> generate(LlamaModel& model, const std::vector<TokenId>& prompt, int n,
                              std::vector<std::vector<float>>* step_logits = nullptr) {
  KvCache kv(model.kv_shape(256));
  ThreadPool pool(2);
  std::vector<float> logits;
  EXPECT_TRUE(kv.reserve(0, static_cast<int64_t>(prompt.size()) + n).ok());
  SeqChunk chunk{.seq = 0, .start_pos = 0, .tokens = prompt, .need_logits = true};
  model.forward({&chunk, 1}, kv, pool, nullptr, &logits);
  std::vector<TokenId> out;
  const int64_t n_vocab = model.config().n_vocab;
  for (int i = 0; i < n; ++i) {
    if (step_logits) step_logits->push_back(logits);
    out.push_back(argmax(logits.data(), n_vocab));
    SeqChunk next{.seq = 0,
                  .start_pos = static_cast<int64_t>(prompt.size()) + i,
                  .tokens = {&out.back(), 1},
                  .need_logits = true};
    model.forward({&next, 1}, kv, pool, nullptr, &logits);
  }
  return out;
}

TEST_F(LlamaGolden, GreedyMatchesLlamaCppOnNineOfTenPrompts) {
  auto model = load();
  ASSERT_TRUE(model);
  int matching = 0;
  for (const GoldenCase& c : cases_) {
    auto got = generate(*model, c.prompt_tokens, kCompareTokens);
    std::vector<TokenId> want(c.greedy.begin(), c.greedy.begin() + kCompareTokens);
    if (got == want) {
      ++matching;
    } else {
      auto diff = std::mismatch(got.begin(), got.end(), want.begin()).first - got.begin();
      ADD_FAILURE() << "prompt " << ::testing::PrintToString(c.prompt.substr(0, 40))
                    << " differs from llama.cpp at generated token " << diff;
    }
  }
  EXPECT_GE(matching, 9) << matching << " of " << cases_.size() << " prompts match";
}

TEST_F(LlamaGolden, TopLogitsMatchWithinTolerance) {
  auto model = load();
  ASSERT_TRUE(model);
  // Tolerance: measured differences are 0 (same arithmetic as llama.cpp, see the top); 1e-3
  // allows for last-bit differences of another C library's expf / sinf / cosf, no more.
  constexpr float kTolerance = 1e-3f;
  for (const GoldenCase& c : cases_) {
    std::vector<std::vector<float>> steps;
    generate(*model, c.prompt_tokens, 32, &steps);
    for (const auto& top : c.top_logits) {
      const auto& row = steps[top["step"].get<int>()];
      auto ids = top["ids"].get<std::vector<int>>();
      auto want = top["logits"].get<std::vector<float>>();
      for (size_t i = 0; i < ids.size(); ++i)
        EXPECT_NEAR(row[ids[i]], want[i], kTolerance)
            << "prompt " << c.prompt.substr(0, 30) << " step " << top["step"] << " token "
            << ids[i];
    }
  }
}

TEST_F(LlamaGolden, BatchingDoesNotChangeResults) {
  auto model = load();
  ASSERT_TRUE(model);
  const int n_gen = 8;
  // Reference: each prompt alone.
  std::vector<std::vector<TokenId>> alone;
  for (const GoldenCase& c : cases_) alone.push_back(generate(*model, c.prompt_tokens, n_gen));

  // All prompts in one batch: prompts start at different steps so prefill chunks mix with
  // decode tokens of the others.
  KvCache kv(model->kv_shape(512));
  ThreadPool pool(2);
  const size_t n = cases_.size();
  std::vector<std::vector<TokenId>> out(n);
  std::vector<float> logits;
  for (int step = 0; step < n_gen + static_cast<int>(n); ++step) {
    std::vector<SeqChunk> chunks;
    std::vector<size_t> who;
    for (size_t s = 0; s < n; ++s) {
      const auto& prompt = cases_[s].prompt_tokens;
      if (static_cast<int>(s) > step || out[s].size() >= static_cast<size_t>(n_gen)) continue;
      if (static_cast<int>(s) == step) {
        ASSERT_TRUE(kv.reserve(s, static_cast<int64_t>(prompt.size()) + n_gen).ok());
        chunks.push_back({.seq = static_cast<int64_t>(s),
                          .start_pos = 0,
                          .tokens = prompt,
                          .need_logits = true});
      } else {
        chunks.push_back({.seq = static_cast<int64_t>(s),
                          .start_pos = static_cast<int64_t>(prompt.size() + out[s].size() - 1),
                          .tokens = {&out[s].back(), 1},
                          .need_logits = true});
      }
      who.push_back(s);
    }
    if (chunks.empty()) continue;
    model->forward(chunks, kv, pool, nullptr, &logits);
    for (size_t i = 0; i < who.size(); ++i)
      out[who[i]].push_back(argmax(&logits[i * model->config().n_vocab], model->config().n_vocab));
  }
  for (size_t s = 0; s < n; ++s) EXPECT_EQ(out[s], alone[s]) << "prompt " << s;
}

}  // namespace
}  // namespace shardserve
