// Element-wise and per-row CPU operations of the transformer, written for clarity first;
// each matches the arithmetic of llama.cpp's CPU backend closely enough that greedy
// decoding agrees (sums of squares in double, RoPE angles by repeated multiplication).
// All functions are pure: they read their inputs and write their outputs, nothing else.
#pragma once

#include <cstdint>

namespace shardserve::kernels {

// out[i] = x[i] / sqrt(mean(x^2) + eps) * weight[i], for n elements. out may alias x.
void rms_norm(const float* x, const float* weight, float* out, int64_t n, float eps);

// out[i] = silu(gate[i]) * up[i], silu(v) = v / (1 + exp(-v)). out may alias gate.
void silu_mul(const float* gate, const float* up, float* out, int64_t n);

// x[i] += y[i]
void add_inplace(float* x, const float* y, int64_t n);

// In-place softmax of n scores.
void softmax(float* x, int64_t n);

// Rotary position embedding parameters (from GGUF metadata).
struct RopeParams {
  int64_t n_rot = 0;  // rotated dimensions per head (<= head_dim, even)
  float freq_base = 10000.0f;
  float freq_scale = 1.0f;              // 1 / linear scaling factor
  bool neox = false;                    // pairs (i, i + n_rot/2) instead of (2i, 2i + 1)
  const float* freq_factors = nullptr;  // optional per-pair divisors (n_rot / 2), Llama 3.1
};

// Fills cos_sin[2 * i], cos_sin[2 * i + 1] for pair i < n_rot / 2 at position pos.
void rope_cache(const RopeParams& p, int64_t pos, float* cos_sin);

// Rotates n_heads heads of head_dim floats (contiguous) with a cache from rope_cache.
void rope_apply(const RopeParams& p, const float* cos_sin, float* x, int64_t n_heads,
                int64_t head_dim);

}  // namespace shardserve::kernels
