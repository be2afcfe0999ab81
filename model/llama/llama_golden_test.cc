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
// Those checks run in LlamaArithmetic::kLlamaCpp. The packed arithmetic that serves by default
// sums in another order, so it is held to llama.cpp along llama.cpp's own greedy tokens
// (teacher forcing, so one near-tie cannot send the rest of a continuation elsewhere), within
// the spread that llama.cpp's own summation orders show on the same file (see
// PackedArithmeticStaysCloseToLlamaCpp).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <span>
#include <thread>

#include "model/llama/llama_model.h"
#include "parallel/testing/thread_shard_combiner.h"

namespace shardserve {
namespace {

// Another file and its golden data (made by make_generation_golden.py --model --out) may be named
// in SHARDSERVE_GOLDEN_MODEL and SHARDSERVE_GOLDEN_JSON: bench/quant/check_types.sh holds each
// quantization type of the default model to llama.cpp that way.
const char* golden_path(const char* variable, const char* fallback) {
  const char* v = std::getenv(variable);
  return v && *v ? v : fallback;
}
const char* const kModel =
    golden_path("SHARDSERVE_GOLDEN_MODEL", "models/SmolLM2-135M-Instruct.Q4_1.gguf");
const char* const kGolden =
    golden_path("SHARDSERVE_GOLDEN_JSON", "tests/golden/generation_golden.json");
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
    // Golden data whose prompts llama.cpp took one token per step (its decode path) is
    // compared with prompts fed the same way.
    prompt_one_token_steps_ = j.value("prompt_steps", "one batch") == "one token per step";
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

  static std::unique_ptr<LlamaModel> load(LlamaArithmetic arithmetic = LlamaArithmetic::kLlamaCpp) {
    auto m = LlamaModel::load(*file_, 1, 0, arithmetic);
    EXPECT_TRUE(m.ok()) << m.error().message;
    return m.ok() ? std::move(*m) : nullptr;
  }

  static gguf::File* file_;
  static std::vector<GoldenCase> cases_;
  static bool prompt_one_token_steps_;
};
gguf::File* LlamaGolden::file_ = nullptr;
std::vector<GoldenCase> LlamaGolden::cases_;
bool LlamaGolden::prompt_one_token_steps_ = false;

TokenId argmax(const float* row, int64_t n) {
  return static_cast<TokenId>(std::max_element(row, row + n) - row);
}

// Runs `prompt` into `kv` (sequence 0) as one chunk, or one token per step; the logits of its
// last token into `logits`.
void prefill(LlamaModel& model, KvCache& kv, ThreadPool& pool, const std::vector<TokenId>& prompt,
             bool one_token_steps, std::vector<float>& logits) {
  const int64_t n = static_cast<int64_t>(prompt.size());
  for (int64_t begin = 0; begin < n;) {
    const int64_t end = one_token_steps ? begin + 1 : n;
    SeqChunk chunk{.seq = 0,
                   .start_pos = begin,
                   .tokens = std::span(prompt).subspan(begin, end - begin),
                   .need_logits = end == n};
    EXPECT_TRUE(model.forward({&chunk, 1}, &kv, {.pool = &pool}, &logits).ok());
    begin = end;
  }
}

// Greedy decoding of one prompt alone; also returns each step's logits row.
std::vector<TokenId> generate(LlamaModel& model, const std::vector<TokenId>& prompt, int n,
                              std::vector<std::vector<float>>* step_logits = nullptr,
                              bool one_token_steps = false) {
  KvCache kv(*model.kv_shape(256, 16));
  ThreadPool pool(2);
  std::vector<float> logits;
  EXPECT_TRUE(kv.reserve(0, static_cast<int64_t>(prompt.size()) + n).ok());
  prefill(model, kv, pool, prompt, one_token_steps, logits);
  std::vector<TokenId> out;
  const int64_t n_vocab = model.config().n_vocab;
  for (int i = 0; i < n; ++i) {
    if (step_logits) step_logits->push_back(logits);
    out.push_back(argmax(logits.data(), n_vocab));
    SeqChunk next{.seq = 0,
                  .start_pos = static_cast<int64_t>(prompt.size()) + i,
                  .tokens = {&out.back(), 1},
                  .need_logits = true};
    EXPECT_TRUE(model.forward({&next, 1}, &kv, {.pool = &pool}, &logits).ok());
  }
  return out;
}

TEST_F(LlamaGolden, GreedyMatchesLlamaCppOnNineOfTenPrompts) {
  auto model = load();
  ASSERT_TRUE(model);
  int matching = 0;
  for (const GoldenCase& c : cases_) {
    auto got = generate(*model, c.prompt_tokens, kCompareTokens, nullptr, prompt_one_token_steps_);
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
    generate(*model, c.prompt_tokens, 32, &steps, prompt_one_token_steps_);
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

// Logits of every step of `prompt` followed by `forced` (one row per forced token: the logits
// that predict it).
std::vector<std::vector<float>> teacher_forced_logits(LlamaModel& model,
                                                      const std::vector<TokenId>& prompt,
                                                      std::span<const TokenId> forced) {
  KvCache kv(*model.kv_shape(256, 16));
  ThreadPool pool(2);
  EXPECT_TRUE(kv.reserve(0, static_cast<int64_t>(prompt.size() + forced.size())).ok());
  std::vector<std::vector<float>> steps(forced.size());
  SeqChunk chunk{.seq = 0, .start_pos = 0, .tokens = prompt, .need_logits = true};
  EXPECT_TRUE(model.forward({&chunk, 1}, &kv, {.pool = &pool}, &steps[0]).ok());
  for (size_t i = 1; i < forced.size(); ++i) {
    SeqChunk next{.seq = 0,
                  .start_pos = static_cast<int64_t>(prompt.size() + i - 1),
                  .tokens = forced.subspan(i - 1, 1),
                  .need_logits = true};
    EXPECT_TRUE(model.forward({&next, 1}, &kv, {.pool = &pool}, &steps[i]).ok());
  }
  return steps;
}

// How far one arithmetic's logits lie from llama.cpp's recorded ones along llama.cpp's greedy
// tokens (teacher forcing), over every recorded top logit.
struct GoldenDistance {
  float largest = 0;
  double mean = 0;
  int clear_steps = 0;               // steps whose recorded top two are > kClearGap apart
  std::vector<std::string> flipped;  // clear steps whose top token differs, as "prompt step N"
};
constexpr float kClearGap = 2.0f;

GoldenDistance distance_from_golden(LlamaModel& model, const std::vector<GoldenCase>& cases) {
  GoldenDistance d;
  double sum = 0;
  int n = 0;
  for (const GoldenCase& c : cases) {
    const std::span<const TokenId> forced(c.greedy.data(), kCompareTokens);
    const auto steps = teacher_forced_logits(model, c.prompt_tokens, forced);
    for (const auto& top : c.top_logits) {
      const int step = top["step"].get<int>();
      const auto& row = steps[step];
      const auto ids = top["ids"].get<std::vector<int>>();
      const auto want = top["logits"].get<std::vector<float>>();
      for (size_t i = 0; i < ids.size(); ++i) {
        const float diff = std::abs(row[ids[i]] - want[i]);
        d.largest = std::max(d.largest, diff);
        sum += diff;
        ++n;
      }
      if (ids.size() >= 2 && want[0] - want[1] > kClearGap) {
        ++d.clear_steps;
        if (argmax(row.data(), model.config().n_vocab) != forced[step])
          d.flipped.push_back(c.prompt.substr(0, 30) + " step " + std::to_string(step));
      }
    }
  }
  d.mean = n ? sum / n : 0;
  return d;
}

// The served arithmetic against llama.cpp, measured beside the spread of llama.cpp's own
// arithmetic. The 135M model is chaotic, so two correct summation orders already differ:
// measured on the default model requantized into each type (bench/quant/check_types.sh),
// llama.cpp with its weights repacked against llama.cpp without differs by up to 0.80 (mean
// 0.21) on Q4_0 and Q4_K_M, and kLlamaCpp (llama.cpp's row-dot orders; llama.cpp's batched
// prefill sums Q4_0 / Q5_0 / K-quant files in other orders) lies up to 2.35 (mean 0.22) from it
// on Q2_K and 1.33 (0.23) on Q4_K_M. The mean is the stable measure; the largest difference is
// one chaotic step. So the mean may be no more than 25% above kLlamaCpp's (at least 0.25, for the
// files where kLlamaCpp is exact) and the largest no more than 1.5 or 25% above kLlamaCpp's.
// Measured, packed / kLlamaCpp, largest and mean: Q4_1 (the default) 0.79 / 0 and 0.18 / 0;
// Q8_0 0.89 / 0, 0.16 / 0; Q4_0 0.99 / 0.85, 0.19 / 0.15; Q5_0 0.89 / 0.72, 0.17 / 0.17; Q5_1
// 0.78 / 0.73, 0.19 / 0.18; Q4_K_M 1.56 / 1.33, 0.25 / 0.23; Q5_K_M 1.07 / 1.11, 0.28 / 0.23;
// Q6_K 0.90 / 0.64, 0.22 / 0.18; Q3_K_M 1.11 / 0.84, 0.22 / 0.24; Q2_K 1.39 / 2.35, 0.25 / 0.22.
// The top token must agree wherever llama.cpp's top two are more than kClearGap apart.
TEST_F(LlamaGolden, PackedArithmeticStaysCloseToLlamaCpp) {
  auto packed_model = load(LlamaArithmetic::kFastest);
  auto reference_model = load(LlamaArithmetic::kLlamaCpp);
  ASSERT_TRUE(packed_model && reference_model);
  const GoldenDistance packed = distance_from_golden(*packed_model, cases_);
  const GoldenDistance reference = distance_from_golden(*reference_model, cases_);
  // A file may state its own floor (SHARDSERVE_GOLDEN_PACKED_FLOOR="largest,mean"): Gemma 3's
  // logits span about twice SmolLM2's (model/llama/CMakeLists.txt gives the measured figures).
  float floor_largest = 1.5f;
  double floor_mean = 0.25;
  if (const char* f = std::getenv("SHARDSERVE_GOLDEN_PACKED_FLOOR"); f && *f) {
    ASSERT_EQ(std::sscanf(f, "%f,%lf", &floor_largest, &floor_mean), 2) << f;
  }
  const float allowed_largest = std::max(floor_largest, 1.25f * reference.largest);
  const double allowed_mean = std::max(floor_mean, 1.25 * reference.mean);
  EXPECT_LE(packed.largest, allowed_largest);
  EXPECT_LE(packed.mean, allowed_mean);
  EXPECT_GT(packed.clear_steps, 0);
  EXPECT_TRUE(packed.flipped.empty())
      << "top token differs from llama.cpp's at " << ::testing::PrintToString(packed.flipped);
  std::printf(
      "logit difference from llama.cpp, largest / mean: packed arithmetic %.4f / %.4f "
      "(allowed %.4f / %.4f), kLlamaCpp arithmetic %.4f / %.4f; top token compared at %d "
      "clear steps\n",
      packed.largest, packed.mean, allowed_largest, allowed_mean, reference.largest, reference.mean,
      packed.clear_steps);
}

// In kFastest, cutting a prompt into chunks (as the scheduler does under load, or when it
// recomputes a preempted sequence) changes no bit of the logits.
TEST_F(LlamaGolden, FastestArithmeticIgnoresChunking) {
  auto model = load(LlamaArithmetic::kFastest);
  ASSERT_TRUE(model);
  const std::vector<TokenId>& prompt =
      std::max_element(cases_.begin(), cases_.end(), [](const auto& a, const auto& b) {
        return a.prompt_tokens.size() < b.prompt_tokens.size();
      })->prompt_tokens;
  const int64_t n = static_cast<int64_t>(prompt.size());
  ASSERT_GE(n, 8);
  auto last_logits = [&](const std::vector<int64_t>& ends) {
    KvCache kv(*model->kv_shape(64, 16));
    ThreadPool pool(2);
    EXPECT_TRUE(kv.reserve(0, n).ok());
    std::vector<float> logits;
    int64_t begin = 0;
    for (int64_t end : ends) {
      SeqChunk c{.seq = 0,
                 .start_pos = begin,
                 .tokens = std::span(prompt).subspan(begin, end - begin),
                 .need_logits = end == n};
      EXPECT_TRUE(model->forward({&c, 1}, &kv, {.pool = &pool}, &logits).ok());
      begin = end;
    }
    return logits;
  };
  const auto whole = last_logits({n});
  std::vector<int64_t> one_by_one;
  for (int64_t i = 1; i <= n; ++i) one_by_one.push_back(i);
  for (const auto& ends : {std::vector<int64_t>{1, 6, 7, n}, one_by_one}) {
    const auto got = last_logits(ends);
    ASSERT_EQ(got.size(), whole.size());
    EXPECT_EQ(std::memcmp(got.data(), whole.data(), got.size() * sizeof(float)), 0)
        << "chunk ends " << ::testing::PrintToString(ends);
  }
}

// A group of tp ranks (threads here, processes under mpirun) gives the same bits as one rank
// for every tp: the row-parallel sums run over tp-independent segments, and each logit of the
// vocabulary-split LM head is one whole row's product. Every rank receives the whole logits.
TEST_F(LlamaGolden, EveryTpGivesTheSameLogitsOnEveryRank) {
  constexpr size_t kPrompts = 3;
  constexpr int kSteps = 4;  // a batched prefill, then decodes fed llama.cpp's greedy tokens
  // logits[rank][step] for a group of tp.
  auto run_group = [&](int tp) {
    std::vector<std::vector<std::vector<float>>> logits(tp);
    testing::ThreadShardCombiner::Group group(tp);
    std::vector<std::thread> ranks;
    for (int rank = 0; rank < tp; ++rank) {
      ranks.emplace_back([&, rank] {
        auto model = LlamaModel::load(*file_, tp, rank, LlamaArithmetic::kFastest);
        ASSERT_TRUE(model.ok()) << model.error().message;
        testing::ThreadShardCombiner combiner(group, rank);
        KvCache kv(*(*model)->kv_shape(64, 16));
        ThreadPool pool(1);
        for (int step = 0; step < kSteps; ++step) {
          std::vector<SeqChunk> chunks;
          for (size_t s = 0; s < kPrompts; ++s) {
            const GoldenCase& c = cases_[s];
            const int64_t n_prompt = static_cast<int64_t>(c.prompt_tokens.size());
            if (step == 0) {
              ASSERT_TRUE(kv.reserve(static_cast<int64_t>(s), n_prompt + kSteps).ok());
              chunks.push_back({.seq = static_cast<int64_t>(s),
                                .start_pos = 0,
                                .tokens = c.prompt_tokens,
                                .need_logits = true});
            } else {
              chunks.push_back({.seq = static_cast<int64_t>(s),
                                .start_pos = n_prompt + step - 1,
                                .tokens = std::span(c.greedy).subspan(step - 1, 1),
                                .need_logits = true});
            }
          }
          logits[rank].emplace_back();
          EXPECT_TRUE((*model)
                          ->forward(chunks, &kv, {.pool = &pool, .combiner = &combiner},
                                    &logits[rank].back())
                          .ok());
        }
      });
    }
    for (auto& r : ranks) r.join();
    return logits;
  };
  ASSERT_GE(cases_.size(), kPrompts);
  const auto one = run_group(1);
  ASSERT_EQ(one[0].size(), static_cast<size_t>(kSteps));
  ASSERT_EQ(one[0][0].size(), kPrompts * static_cast<size_t>(load()->config().n_vocab));
  for (int tp : {2, 3}) {
    const auto got = run_group(tp);
    for (int rank = 0; rank < tp; ++rank) {
      for (int step = 0; step < kSteps; ++step) {
        ASSERT_EQ(got[rank][step].size(), one[0][step].size());
        EXPECT_EQ(std::memcmp(got[rank][step].data(), one[0][step].data(),
                              one[0][step].size() * sizeof(float)),
                  0)
            << "tp " << tp << " rank " << rank << " step " << step;
      }
    }
  }
}

class LlamaBatching : public LlamaGolden, public ::testing::WithParamInterface<LlamaArithmetic> {};

TEST_P(LlamaBatching, BatchingDoesNotChangeResults) {
  auto model = load(GetParam());
  ASSERT_TRUE(model);
  const int n_gen = 8;
  // Reference: each prompt alone.
  std::vector<std::vector<TokenId>> alone;
  for (const GoldenCase& c : cases_) alone.push_back(generate(*model, c.prompt_tokens, n_gen));

  // All prompts in one batch: prompts start at different steps so prefill chunks mix with
  // decode tokens of the others.
  KvCache kv(*model->kv_shape(512, 16));
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
    EXPECT_TRUE(model->forward(chunks, &kv, {.pool = &pool}, &logits).ok());
    for (size_t i = 0; i < who.size(); ++i)
      out[who[i]].push_back(argmax(&logits[i * model->config().n_vocab], model->config().n_vocab));
  }
  for (size_t s = 0; s < n; ++s) EXPECT_EQ(out[s], alone[s]) << "prompt " << s;
}

INSTANTIATE_TEST_SUITE_P(Arithmetic, LlamaBatching,
                         ::testing::Values(LlamaArithmetic::kFastest, LlamaArithmetic::kLlamaCpp),
                         [](const auto& p) {
                           return p.param == LlamaArithmetic::kFastest ? "Fastest" : "LlamaCpp";
                         });

}  // namespace
}  // namespace shardserve
