// The CUDA forward pass on the default model against the golden greedy tokens of
// tests/golden/generation_golden.json (llama.cpp's, which the CPU path reproduces bit for bit):
// the first 32 tokens of every prompt, decoded alone and all prompts batched in one step.
// GPU arithmetic is not the CPU's (f16 weights and activations into the GEMMs, another
// summation order), so a near-tie in the logits can flip a token: a failure names the prompt
// and the first differing position.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "model/cuda/cuda_llama_model.h"
#include "tests/gpu/gpu_test_util.h"

namespace shardserve {
namespace {

constexpr const char* kModel = "models/SmolLM2-135M-Instruct.Q4_1.gguf";
constexpr const char* kGolden = "tests/golden/generation_golden.json";
constexpr int kCompareTokens = 32;

struct GoldenCase {
  std::string prompt;
  std::vector<TokenId> prompt_tokens, greedy;
};

std::vector<GoldenCase> read_cases() {
  std::ifstream in(kGolden);
  EXPECT_TRUE(in.good()) << kGolden;
  std::vector<GoldenCase> cases;
  if (!in.good()) return cases;
  nlohmann::json j = nlohmann::json::parse(in);
  for (auto& c : j["cases"])
    cases.push_back({c["prompt"], c["prompt_tokens"].get<std::vector<TokenId>>(),
                     c["greedy_tokens"].get<std::vector<TokenId>>()});
  return cases;
}

std::string first_difference(const std::vector<TokenId>& got, const std::vector<TokenId>& want) {
  for (size_t i = 0; i < got.size(); ++i)
    if (i >= want.size() || got[i] != want[i])
      return "first difference at token " + std::to_string(i) + ": " + std::to_string(got[i]) +
             " vs " + (i < want.size() ? std::to_string(want[i]) : "none");
  return "equal";
}

class CudaLlamaGolden : public ::testing::Test {
 protected:
  void SetUp() override {
    SS_SKIP_WITHOUT_GPU();
    if (!std::filesystem::exists(kModel))
      GTEST_SKIP() << kModel << " absent: run scripts/fetch-models";
    auto f = gguf::File::open(kModel);
    ASSERT_TRUE(f.ok()) << f.error().message;
    file_ = std::move(*f);
    auto m = CudaLlamaModel::load(*file_, 1, 0, 0);
    ASSERT_TRUE(m.ok()) << m.error().message;
    model_ = std::move(*m);
    cases_ = read_cases();
    ASSERT_FALSE(cases_.empty());
  }

  std::unique_ptr<gguf::File> file_;
  std::unique_ptr<CudaLlamaModel> model_;
  std::vector<GoldenCase> cases_;
};

TEST_F(CudaLlamaGolden, GreedyTokensOfEachPromptAlone) {
  KvCache kv(*model_->kv_shape(256, 16));
  ASSERT_TRUE(model_->reserve_kv(kv.shape()).ok());
  std::printf("weights on the GPU: %.1f MiB\n", model_->weight_bytes() / 1048576.0);
  for (const GoldenCase& gc : cases_) {
    const int64_t len = static_cast<int64_t>(gc.prompt_tokens.size());
    ASSERT_TRUE(kv.reserve(0, len + kCompareTokens).ok());
    std::vector<TokenId> out, next;
    std::vector<float> logits;
    SeqChunk chunk{.seq = 0, .start_pos = 0, .tokens = gc.prompt_tokens, .need_logits = true};
    model_->forward_greedy({&chunk, 1}, kv, &logits, &next);
    ASSERT_EQ(next.size(), 1u);
    ASSERT_EQ(logits.size(), static_cast<size_t>(model_->config().n_vocab));
    EXPECT_EQ(static_cast<TokenId>(std::max_element(logits.begin(), logits.end()) - logits.begin()),
              next[0])
        << "device argmax vs host argmax of the same logits";
    out.push_back(next[0]);
    for (int i = 1; i < kCompareTokens; ++i) {
      const TokenId token = out.back();
      SeqChunk step{.seq = 0, .start_pos = len + i - 1, .tokens = {&token, 1}, .need_logits = true};
      model_->forward_greedy({&step, 1}, kv, nullptr, &next);
      out.push_back(next[0]);
    }
    const std::vector<TokenId> want(gc.greedy.begin(), gc.greedy.begin() + kCompareTokens);
    EXPECT_EQ(out, want) << "prompt '" << gc.prompt << "': " << first_difference(out, want);
    kv.release(0);
  }
}

// Every prompt in one step (prefill chunks side by side), then all decoding together: a
// sequence's tokens must not depend on its batch.
TEST_F(CudaLlamaGolden, GreedyTokensOfAllPromptsBatched) {
  KvCache kv(*model_->kv_shape(1024, 16));
  ASSERT_TRUE(model_->reserve_kv(kv.shape()).ok());
  const size_t n = cases_.size();
  std::vector<std::vector<TokenId>> out(n);
  std::vector<SeqChunk> chunks(n);
  for (size_t i = 0; i < n; ++i) {
    const int64_t len = static_cast<int64_t>(cases_[i].prompt_tokens.size());
    ASSERT_TRUE(kv.reserve(static_cast<int64_t>(i), len + kCompareTokens).ok());
    chunks[i] = {.seq = static_cast<int64_t>(i),
                 .start_pos = 0,
                 .tokens = cases_[i].prompt_tokens,
                 .need_logits = true};
  }
  std::vector<TokenId> next;
  model_->forward_greedy(chunks, kv, nullptr, &next);
  ASSERT_EQ(next.size(), n);
  for (int step = 1; step <= kCompareTokens; ++step) {
    for (size_t i = 0; i < n; ++i) out[i].push_back(next[i]);
    if (step == kCompareTokens) break;
    for (size_t i = 0; i < n; ++i)
      chunks[i] = {.seq = static_cast<int64_t>(i),
                   .start_pos = static_cast<int64_t>(cases_[i].prompt_tokens.size()) + step - 1,
                   .tokens = {&out[i].back(), 1},
                   .need_logits = true};
    model_->forward_greedy(chunks, kv, nullptr, &next);
  }
  for (size_t i = 0; i < n; ++i) {
    const std::vector<TokenId> want(cases_[i].greedy.begin(),
                                    cases_[i].greedy.begin() + kCompareTokens);
    EXPECT_EQ(out[i], want) << "prompt '" << cases_[i].prompt
                            << "': " << first_difference(out[i], want);
  }
}

// Host-side: where no device exists, load() says so instead of crashing.
TEST(CudaLlamaModel, LoadWithoutADeviceSaysWhy) {
  if (!gpu::testing::skip_reason()) GTEST_SKIP() << "a CUDA device exists: nothing to check";
  if (!std::filesystem::exists(kModel)) GTEST_SKIP() << kModel << " absent";
  auto f = gguf::File::open(kModel);
  ASSERT_TRUE(f.ok()) << f.error().message;
  auto m = CudaLlamaModel::load(**f, 1, 0, 0);
  ASSERT_FALSE(m.ok());
  EXPECT_NE(m.error().message.find("no CUDA device"), std::string::npos) << m.error().message;
  EXPECT_NE(m.error().message.find("backend: cpu"), std::string::npos) << m.error().message;
}

}  // namespace
}  // namespace shardserve
