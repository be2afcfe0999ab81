// Element-wise and per-row CPU operations of the transformer, written for clarity first. Each
// follows the arithmetic of llama.cpp's CPU backend (ggml on x86 with AVX-512) operation for
// operation, fused multiply-adds and summation order included, because the small models we
// test against it are chaotic: a one-ulp difference in a layer can flip a near-tie between two
// tokens 30 layers later. Where ggml's order is a choice we reproduce, the comment says so.
// All functions are pure: they read their inputs and write their outputs, nothing else.
#pragma once

#include <cstdint>
#include <vector>

namespace shardserve::kernels {

// out[i] = x[i] / sqrt(mean(x^2) + eps) * weight[i], for n elements. out may alias x.
// As ggml: squares rounded to float, summed in double.
void rms_norm(const float* x, const float* weight, float* out, int64_t n, float eps);

// e^x as ggml's AVX-512 ggml_v_expf computes it (a degree-5 polynomial after range reduction,
// within 1.5 ulp of e^x); softmax and SiLU use it so that their results agree with llama.cpp's.
float exp_ggml(float x);

// out[i] = silu(gate[i]) * up[i], silu(v) = v / (1 + e^-v), for one row of n elements, e^-v
// by exp_ggml in groups of 16 and by the C library's expf for the last n % 16 (as ggml's
// vectorized loop and its scalar tail do). out may alias gate.
void silu_mul(const float* gate, const float* up, float* out, int64_t n);

// out[i] = gelu(gate[i]) * up[i] with llama.cpp's CPU GELU (GGML_GELU_FP16): the tanh form
// 0.5 v (1 + tanh(sqrt(2/pi) v (1 + 0.044715 v^2))) looked up in a table over the f16 values,
// so gate[i] is rounded to f16 and the result to f16 before the product with up[i]; gate[i]
// <= -10 gives 0 and >= 10 gives gate[i] itself. out may alias gate.
void gelu_f16_mul(const float* gate, const float* up, float* out, int64_t n);

// out[i] = c * tanh(x[i] / c) (ggml: scale by 1/c, tanh, scale by c), for logit soft-capping.
void softcap(const float* x, float* out, int64_t n, float c);

// x[i] *= s
void scale_inplace(float* x, int64_t n, float s);

// x[i] += y[i]
void add_inplace(float* x, const float* y, int64_t n);

// In-place softmax of n scores, as ggml_soft_max over a row padded to a multiple of 16 with
// masked (-inf) scores: e^(x - max) by exp_ggml, each group of 16 summed in float (lanes folded
// in halves), the group sums added in double.
// On CPUs with AVX2 and FMA, groups of 16 are computed 8 lanes at a time with the same
// fused steps, so the bits are those of softmax_reference (the plain loop) everywhere.
void softmax(float* x, int64_t n);
void softmax_reference(float* x, int64_t n);

// In-place softmax of a row of n scores that is not padded (a MoE router's n_expert logits), as
// ggml_soft_max computes it on AVX-512: e^(x - max) by exp_ggml for each whole group of 16 (its
// sum folded in halves, added in double), then by the C library's expf for the remaining
// n % 16, each added to the double sum; times 1/sum.
inline constexpr int64_t kMaxSoftmaxUnpadded = 512;
void softmax_unpadded(float* x, int64_t n);

// The two summation orders of llama.cpp's f16 attention products (K.q and the weighted sum of
// V), whose inputs are f16 values (held here as floats, so every product is exact):
//  - Gemv: ggml_vec_dot_f16, used when a batch has one token: four 16-lane accumulators over
//    64-element steps, folded as (a0 + a2) + (a1 + a3), then the 16 lanes in halves.
//  - Gemm: llamafile's tinyBLAS, used for batches of two or more tokens when the length is a
//    multiple of 16: one 16-lane accumulator over 16-element steps, then folded in halves.
// llama.cpp pads the cache length to a multiple of 256 with masked positions whose weights
// are zero, so the weighted sum of V never has a tail; K.q of a head_dim that is no multiple
// of 64 sums its tail in double, as ggml does.
enum class AttnOrder { Gemv, Gemm };

// sum_i a[i] * b[i] for n elements in `order` (Gemm falls back to Gemv if n % 16 != 0).
float attn_dot(const float* a, const float* b, int64_t n, AttnOrder order);

// Accumulates sum_p w[p] * row_p for rows of `dim` floats, each weight-row product added to the
// lane accumulator of its position (p mod 64 or p mod 16) so that finish() reproduces `order`.
// Positions may come in any order as long as each lane sees its positions in increasing order.
class AttnRowSum {
 public:
  AttnRowSum() = default;
  void reset(int64_t dim, AttnOrder order);  // reuses the buffer: no allocation once warm
  void add(int64_t pos, float w, const float* row);
  void finish(float* out) const;  // out[dim]

 private:
  int64_t dim_ = 0;
  int lanes_ = 64;
  std::vector<float> acc_;  // [lanes_][dim_]
};

// --- BERT's operations. These follow PyTorch's definitions (not llama.cpp's arithmetic): an
// encoder's embeddings are compared with a tolerance, not token for token. ---

// out[i] = (x[i] - mean) / sqrt(var + eps) * weight[i] + bias[i] over n elements, with the mean
// and the biased variance (torch.nn.LayerNorm's) accumulated in double, two passes. out may
// alias x.
void layer_norm(const float* x, const float* weight, const float* bias, float* out, int64_t n,
                float eps);

// In place, the erf form of GELU (BERT's "gelu", torch's default): x * (1 + erf(x / sqrt(2))) / 2,
// erf by a rational approximation within 3.5e-7 (so the result is within 1.1e-6 of the exact
// GELU for |x| < 1, relative above; torch's float GELU is within 1.2e-7).
void gelu_erf(float* x, int64_t n);

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

// Rotates n_heads heads of head_dim floats (contiguous) with a cache from rope_cache; each
// rotated pair is (fma(x0, c, -(x1 * s)), fma(x0, s, x1 * c)), as ggml's compiled loop is.
void rope_apply(const RopeParams& p, const float* cos_sin, float* x, int64_t n_heads,
                int64_t head_dim);

}  // namespace shardserve::kernels
