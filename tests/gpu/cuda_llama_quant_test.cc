// The CUDA model with weights kept quantized (decode: the quantized GEMV; prefill: blocks
// dequantized into scratch, then cuBLAS) against the same model with every weight dequantized to
// f16 at load (CudaLlamaOptions::quantized_weights = false), on
//   - a Q4_K_M-like file of mixed types (Q4_K / Q6_K, and a Q5_0 ffn_up the GEMV does not read):
//     bench/quant/make_random_kquant_llama.py writes it; SHARDSERVE_TEST_MIXED_MODEL names it
//     (default models/random-kquant-mixed.gguf);
//   - the default model (SmolLM2 Q4_1, one type).
// Prefill logits: both paths multiply the same f16 values with cuBLAS, so they agree to float
// rounding. Decode logits: the GEMV quantizes activations to 8 bits (quant_gemv.cuh's bound,
// about amax / 254 per element), so rows agree to a small fraction of the row's logit scale and
// the argmax agrees up to a near-tie.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include "model/cuda/cuda_llama_model.h"
#include "tests/gpu/gpu_test_util.h"

namespace shardserve {
namespace {

std::string mixed_model_path() {
  const char* path = std::getenv("SHARDSERVE_TEST_MIXED_MODEL");
  return path && *path ? path : "models/random-kquant-mixed.gguf";
}

// |quantized - f16| of a decode row, as a share of the f16 row's largest |logit|.
constexpr float kDecodeShare = 0.03f;
// The same for prefill rows (identical f16 weights, same cuBLAS call shapes but for the split
// of a projection into matrices).
constexpr float kPrefillShare = 1e-3f;

float max_abs(std::span<const float> a) {
  float m = 0.0f;
  for (float x : a) m = std::max(m, std::fabs(x));
  return m;
}

float max_abs_difference(std::span<const float> a, std::span<const float> b) {
  float worst = 0.0f;
  for (size_t i = 0; i < std::min(a.size(), b.size()); ++i)
    worst = std::max(worst, std::fabs(a[i] - b[i]));
  return worst;
}

size_t argmax(std::span<const float> row) {
  return static_cast<size_t>(std::max_element(row.begin(), row.end()) - row.begin());
}

// One model loaded both ways, run on the same steps.
class QuantVsF16 : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    SS_SKIP_WITHOUT_GPU();
    path_ = GetParam() == "mixed" ? mixed_model_path()
                                  : std::string("models/SmolLM2-135M-Instruct.Q4_1.gguf");
    if (!std::filesystem::exists(path_))
      GTEST_SKIP() << path_ << " absent (the mixed model: /opt/peer-venv/bin/python "
                   << "bench/quant/make_random_kquant_llama.py " << path_ << ")";
    auto f = gguf::File::open(path_);
    ASSERT_TRUE(f.ok()) << f.error().message;
    file_ = std::move(*f).release();
    for (bool quantized : {true, false}) {
      auto m = CudaLlamaModel::load(
          *file_, 1, 0, 0, nullptr,
          {.max_step_tokens = 64, .max_step_chunks = 8, .quantized_weights = quantized});
      ASSERT_TRUE(m.ok()) << m.error().message;
      (quantized ? quant_ : f16_) = std::move(*m);
    }
  }
  void TearDown() override {
    quant_.reset();
    f16_.reset();
    delete file_;
  }

  // Runs the same chunks on both models; returns their logits.
  void step(const std::vector<SeqChunk>& chunks, KvCache& kq, KvCache& kf, std::vector<float>* q,
            std::vector<float>* f) {
    quant_->forward_greedy(chunks, kq, q, nullptr);
    f16_->forward_greedy(chunks, kf, f, nullptr);
    ASSERT_EQ(q->size(), f->size());
  }

  // Checks each row of n_vocab logits: within share of the f16 row's scale, argmax the same or
  // a near-tie (the f16 logit of the quantized argmax within the same allowance of the best).
  void expect_rows_close(const std::vector<float>& q, const std::vector<float>& f, float share,
                         const char* what) {
    const size_t v = static_cast<size_t>(f16_->config().n_vocab);
    float worst = 0.0f;
    for (size_t r = 0; r < q.size() / v; ++r) {
      const std::span<const float> qr(q.data() + r * v, v), fr(f.data() + r * v, v);
      const float scale = max_abs(fr), diff = max_abs_difference(qr, fr);
      worst = std::max(worst, diff / scale);
      EXPECT_LE(diff, share * scale) << what << " row " << r;
      const size_t a = argmax(qr), b = argmax(fr);
      if (a != b) {
        EXPECT_LE(fr[b] - fr[a], share * scale)
            << what << " row " << r << ": argmax " << a << " vs " << b << ", not a near-tie";
      }
    }
    std::printf("%s %s: max |quantized - f16| / row scale %.5f\n", path_.c_str(), what, worst);
  }

  std::string path_;
  gguf::File* file_ = nullptr;
  std::unique_ptr<CudaLlamaModel> quant_, f16_;
};

TEST_P(QuantVsF16, QuantizedWeightsTakeFewerBytes) {
  std::printf(
      "%s: weights %.2f MiB quantized vs %.2f MiB f16; bytes per decode step %.2f vs "
      "%.2f MiB\n",
      path_.c_str(), quant_->weight_bytes() / 1048576.0, f16_->weight_bytes() / 1048576.0,
      quant_->bytes_read_per_step() / 1048576.0, f16_->bytes_read_per_step() / 1048576.0);
  EXPECT_LT(quant_->weight_bytes(), f16_->weight_bytes());
  EXPECT_LT(quant_->bytes_read_per_step(), f16_->bytes_read_per_step());
}

// A 20-token prefill (dequantize-to-scratch path), then decode steps of one sequence (the GEMV
// at one column) and of three sequences at once (three columns).
TEST_P(QuantVsF16, DecodeLogitsAgreeWithTheF16Path) {
  KvCache kq(*quant_->kv_shape(64, 16)), kf(*f16_->kv_shape(64, 16));
  ASSERT_TRUE(quant_->reserve_kv(kq.shape()).ok());
  ASSERT_TRUE(f16_->reserve_kv(kf.shape()).ok());
  const int64_t n_seqs = 3, prompt = 20, steps = 6;
  std::vector<std::vector<TokenId>> tokens(n_seqs);
  for (int64_t s = 0; s < n_seqs; ++s) {
    ASSERT_TRUE(kq.reserve(s, prompt + steps).ok());
    ASSERT_TRUE(kf.reserve(s, prompt + steps).ok());
    for (int64_t i = 0; i < prompt; ++i)
      tokens[s].push_back(static_cast<TokenId>((1 + 37 * s + 101 * i) % 4000));
  }
  std::vector<float> q, f;
  std::vector<SeqChunk> chunks;
  for (int64_t s = 0; s < n_seqs; ++s)
    chunks.push_back({.seq = s, .start_pos = 0, .tokens = tokens[s], .need_logits = true});
  step(chunks, kq, kf, &q, &f);
  expect_rows_close(q, f, kPrefillShare, "prefill");

  const size_t v = static_cast<size_t>(f16_->config().n_vocab);
  for (int64_t i = 0; i < steps; ++i) {
    // The f16 path's choice continues both (the same tokens go into both caches).
    for (int64_t s = 0; s < n_seqs; ++s)
      tokens[s].push_back(static_cast<TokenId>(argmax({f.data() + s * v, v})));
    chunks.clear();
    // Even steps: each sequence alone (one column); odd steps: all three in one step.
    const bool together = i % 2 == 1;
    std::vector<float> qs, fs;
    for (int64_t s = 0; s < n_seqs; ++s) {
      chunks.push_back({.seq = s,
                        .start_pos = prompt + i,
                        .tokens = {&tokens[s].back(), 1},
                        .need_logits = true});
      if (!together) {
        step(chunks, kq, kf, &q, &f);
        qs.insert(qs.end(), q.begin(), q.end());
        fs.insert(fs.end(), f.begin(), f.end());
        chunks.clear();
      }
    }
    if (together) {
      step(chunks, kq, kf, &q, &f);
    } else {
      q = std::move(qs);
      f = std::move(fs);
    }
    expect_rows_close(q, f, kDecodeShare, together ? "decode x3" : "decode x1");
  }
}

INSTANTIATE_TEST_SUITE_P(Models, QuantVsF16, ::testing::Values("mixed", "default"));

}  // namespace
}  // namespace shardserve
