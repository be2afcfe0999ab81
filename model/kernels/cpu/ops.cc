#include "model/kernels/cpu/ops.h"

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>

#include "model/kernels/cpu/quant.h"

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define SS_SOFTMAX_AVX2 1
#endif

// The element-wise loops below are built twice, for x86-64-v3 (AVX2, FMA: std::fma becomes one
// instruction and the lane loops vectorize) and for any x86-64; the loader picks one. Both give
// the same bits: std::fma is exact either way and no loop is reassociated.
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define SS_CLONES __attribute__((target_clones("arch=x86-64-v3", "default")))
#else
#define SS_CLONES
#endif

namespace shardserve::kernels {

namespace {

// Folds 16 lanes in halves, the tree of _mm512_reduce_add_ps: (i, i+8), (i, i+4), (i, i+2), (0, 1).
float fold16(const float* v) {
  float h[8];
  for (int i = 0; i < 8; ++i) h[i] = v[i] + v[i + 8];
  for (int i = 0; i < 4; ++i) h[i] += h[i + 4];
  for (int i = 0; i < 2; ++i) h[i] += h[i + 2];
  return h[0] + h[1];
}

// The four 16-lane accumulators of ggml_vec_dot_f16 (64 lanes) folded as (a0 + a2) + (a1 + a3).
float fold64(const float* v) {
  float s[16];
  for (int i = 0; i < 16; ++i) s[i] = (v[i] + v[i + 32]) + (v[i + 16] + v[i + 48]);
  return fold16(s);
}

// Inlined into each target clone of its callers, so std::fma is one instruction there.
[[gnu::always_inline]] inline float exp_ggml_inline(float x) {
  // e^x = 2^n * e^b with n = round(x / ln 2), b = x - n ln 2 (ln 2 in two parts), e^b by a
  // polynomial in Estrin form; the constants are ggml's.
  constexpr float kShift = 0x1.8p23f;  // adding it rounds to an integer
  const float z = std::fma(x, 0x1.715476p+0f, kShift);
  const float n = z - kShift;
  float b = std::fma(-n, 0x1.62e4p-1f, x);
  b = std::fma(-n, 0x1.7f7d1cp-20f, b);
  if (std::fabs(n) > 192.0f) return n > 0 ? INFINITY : 0.0f;
  const float u = b * b;
  const float hi = std::fma(std::fma(b, 0x1.0e402p-7f, 0x1.573e2ep-5f), u,
                            std::fma(0x1.555e66p-3f, b, 0x1.fffdb6p-2f));
  const float j = std::fma(hi, u, std::fma(0x1.ffffecp-1f, b, 1.0f));
  // vscalefps: j * 2^n with one rounding. For n in the normal exponent range 2^n is a float
  // and the product rounds once, exactly like ldexp; beyond it, ldexp.
  const int e = static_cast<int>(n);
  if (e >= -126 && e <= 127) return j * std::bit_cast<float>(static_cast<uint32_t>(e + 127) << 23);
  return std::ldexp(j, e);
}

}  // namespace

void rms_norm(const float* x, const float* weight, float* out, int64_t n, float eps) {
  double sum = 0.0;
  for (int64_t i = 0; i < n; ++i) sum += static_cast<double>(x[i] * x[i]);
  const float mean = static_cast<float>(sum / static_cast<double>(n));
  const float scale = 1.0f / std::sqrt(mean + eps);
  for (int64_t i = 0; i < n; ++i) out[i] = x[i] * scale * weight[i];
}

float exp_ggml(float x) {
  return exp_ggml_inline(x);
}

SS_CLONES void silu_mul(const float* gate, const float* up, float* out, int64_t n) {
  const int64_t n16 = n - n % 16;
  for (int64_t i = 0; i < n; ++i) {
    const float g = gate[i];
    const float e = i < n16 ? exp_ggml_inline(0.0f - g) : std::exp(-g);
    out[i] = g / (1.0f + e) * up[i];
  }
}

namespace {
// ggml_gelu_f32, as llama.cpp's compiler contracts it (the a*b + c of the inner bracket is one
// fused multiply-add).
float gelu_tanh(float v) {
  constexpr float kSqrt2OverPi = 0.79788456080286535587989211986876f, kCoefA = 0.044715f;
  return 0.5f * v * (1.0f + std::tanh(kSqrt2OverPi * v * std::fma(kCoefA * v, v, 1.0f)));
}

// f32(f16(gelu_tanh(f32(h)))) for every f16 bit pattern h: ggml_table_gelu_f16.
const std::vector<float>& gelu_f16_table() {
  static const std::vector<float> table = [] {
    std::vector<float> t(65536);
    for (uint32_t h = 0; h < 65536; ++h)
      t[h] = f16_to_f32(f32_to_f16(gelu_tanh(f16_to_f32(static_cast<uint16_t>(h)))));
    return t;
  }();
  return table;
}
}  // namespace

void gelu_f16_mul(const float* gate, const float* up, float* out, int64_t n) {
  const std::vector<float>& table = gelu_f16_table();
  for (int64_t i = 0; i < n; ++i) {
    const float g = gate[i];
    if (g <= -10.0f) {
      out[i] = 0.0f;
    } else if (g >= 10.0f) {
      out[i] = g * up[i];
    } else {
      out[i] = table[f32_to_f16(g)] * up[i];
    }
  }
}

void softcap(const float* x, float* out, int64_t n, float c) {
  const float inv = 1.0f / c;
  for (int64_t i = 0; i < n; ++i) out[i] = std::tanh(x[i] * inv) * c;
}

void scale_inplace(float* x, int64_t n, float s) {
  for (int64_t i = 0; i < n; ++i) x[i] *= s;
}

void add_inplace(float* x, const float* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) x[i] += y[i];
}

SS_CLONES void softmax_unpadded(float* x, int64_t n) {
  const float max = *std::max_element(x, x + n);
  double sum = 0.0;
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    for (int64_t j = i; j < i + 16; ++j) x[j] = exp_ggml_inline(x[j] - max);
    sum += static_cast<double>(fold16(x + i));
  }
  for (; i < n; ++i) {
    x[i] = std::exp(x[i] - max);
    sum += static_cast<double>(x[i]);
  }
  const float inv = static_cast<float>(1.0 / sum);
  for (int64_t j = 0; j < n; ++j) x[j] *= inv;
}

namespace {

#ifdef SS_SOFTMAX_AVX2
// exp_ggml_inline on 8 lanes, bit for bit: the same fused steps in the same order. Lanes whose
// 2^n is not a normal float (|n| > 126) are left to the scalar function: *slow is set.
__attribute__((target("avx2,fma"))) __m256 exp_ggml_8(__m256 x, bool* slow) {
  const __m256 shift = _mm256_set1_ps(0x1.8p23f);
  const __m256 z = _mm256_fmadd_ps(x, _mm256_set1_ps(0x1.715476p+0f), shift);
  const __m256 n = _mm256_sub_ps(z, shift);
  __m256 b = _mm256_fnmadd_ps(n, _mm256_set1_ps(0x1.62e4p-1f), x);
  b = _mm256_fnmadd_ps(n, _mm256_set1_ps(0x1.7f7d1cp-20f), b);
  const __m256 u = _mm256_mul_ps(b, b);
  const __m256 hi = _mm256_fmadd_ps(
      _mm256_fmadd_ps(b, _mm256_set1_ps(0x1.0e402p-7f), _mm256_set1_ps(0x1.573e2ep-5f)), u,
      _mm256_fmadd_ps(_mm256_set1_ps(0x1.555e66p-3f), b, _mm256_set1_ps(0x1.fffdb6p-2f)));
  const __m256 j = _mm256_fmadd_ps(
      hi, u, _mm256_fmadd_ps(_mm256_set1_ps(0x1.ffffecp-1f), b, _mm256_set1_ps(1.0f)));
  const __m256 abs_n = _mm256_andnot_ps(_mm256_set1_ps(-0.0f), n);
  // Not (|n| <= 126): NaN inputs included.
  *slow = _mm256_movemask_ps(_mm256_cmp_ps(abs_n, _mm256_set1_ps(126.0f), _CMP_NLE_UQ)) != 0;
  const __m256i e = _mm256_cvttps_epi32(n);
  const __m256 two_e =
      _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(e, _mm256_set1_epi32(127)), 23));
  return _mm256_mul_ps(j, two_e);
}

// e^(x - max) of 16 scores in place; returns their sum folded as fold16 does.
__attribute__((target("avx2,fma"))) float exp16_avx2(float* x, float max) {
  const __m256 m = _mm256_set1_ps(max);
  const __m256 in0 = _mm256_sub_ps(_mm256_loadu_ps(x), m);
  const __m256 in1 = _mm256_sub_ps(_mm256_loadu_ps(x + 8), m);
  bool slow0 = false, slow1 = false;
  __m256 e0 = exp_ggml_8(in0, &slow0);
  __m256 e1 = exp_ggml_8(in1, &slow1);
  if (slow0 || slow1) {
    for (int i = 0; i < 16; ++i) x[i] = exp_ggml_inline(x[i] - max);
    return fold16(x);
  }
  _mm256_storeu_ps(x, e0);
  _mm256_storeu_ps(x + 8, e1);
  float h[8];
  _mm256_storeu_ps(h, _mm256_add_ps(e0, e1));  // h[i] = v[i] + v[i + 8]
  for (int i = 0; i < 4; ++i) h[i] += h[i + 4];
  for (int i = 0; i < 2; ++i) h[i] += h[i + 2];
  return h[0] + h[1];
}

// The largest of n scores (n >= 16; no NaN), as std::max_element finds it up to the sign of a
// zero, which x - max does not see.
__attribute__((target("avx2,fma"))) float max_avx2(const float* x, int64_t n) {
  __m256 m = _mm256_loadu_ps(x);
  int64_t i = 8;
  for (; i + 8 <= n; i += 8) m = _mm256_max_ps(m, _mm256_loadu_ps(x + i));
  float lanes[8];
  _mm256_storeu_ps(lanes, m);
  float best = *std::max_element(lanes, lanes + 8);
  for (; i < n; ++i) best = std::max(best, x[i]);
  return best;
}

const bool kHasAvx2Fma = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
#endif

}  // namespace

SS_CLONES void softmax(float* x, int64_t n) {
  double sum = 0.0;
  int64_t i0 = 0;
#ifdef SS_SOFTMAX_AVX2
  const float max = kHasAvx2Fma && n >= 16 ? max_avx2(x, n) : *std::max_element(x, x + n);
  if (kHasAvx2Fma)
    for (; i0 + 16 <= n; i0 += 16) sum += static_cast<double>(exp16_avx2(x + i0, max));
#else
  const float max = *std::max_element(x, x + n);
#endif
  for (; i0 < n; i0 += 16) {
    float group[16] = {};  // masked padding lanes contribute e^-inf = 0
    for (int64_t i = i0; i < std::min(n, i0 + 16); ++i)
      group[i - i0] = x[i] = exp_ggml_inline(x[i] - max);
    sum += static_cast<double>(fold16(group));
  }
  const float inv = static_cast<float>(1.0 / sum);
  for (int64_t i = 0; i < n; ++i) x[i] *= inv;
}

namespace {

// The scalar softmax, for tests of the vector one.
SS_CLONES void softmax_scalar(float* x, int64_t n) {
  const float max = *std::max_element(x, x + n);
  double sum = 0.0;
  for (int64_t i0 = 0; i0 < n; i0 += 16) {
    float group[16] = {};
    for (int64_t i = i0; i < std::min(n, i0 + 16); ++i)
      group[i - i0] = x[i] = exp_ggml_inline(x[i] - max);
    sum += static_cast<double>(fold16(group));
  }
  const float inv = static_cast<float>(1.0 / sum);
  for (int64_t i = 0; i < n; ++i) x[i] *= inv;
}

}  // namespace

void softmax_reference(float* x, int64_t n) {
  softmax_scalar(x, n);
}

SS_CLONES float attn_dot(const float* a, const float* b, int64_t n, AttnOrder order) {
  if (order == AttnOrder::Gemm && n % 16 == 0) {
    float acc[16] = {};
    for (int64_t i = 0; i < n; ++i) acc[i % 16] += a[i] * b[i];
    return fold16(acc);
  }
  const int64_t n64 = n - n % 64;
  float acc[64] = {};
  for (int64_t i = 0; i < n64; ++i) acc[i % 64] += a[i] * b[i];
  double sum = fold64(acc);
  for (int64_t i = n64; i < n; ++i) sum += static_cast<double>(a[i] * b[i]);
  return static_cast<float>(sum);
}

void AttnRowSum::reset(int64_t dim, AttnOrder order) {
  dim_ = dim;
  lanes_ = order == AttnOrder::Gemm ? 16 : 64;
  acc_.assign(static_cast<size_t>(lanes_ * dim), 0.0f);
}

SS_CLONES void AttnRowSum::add(int64_t pos, float w, const float* row) {
  float* acc = &acc_[static_cast<size_t>((pos % lanes_) * dim_)];
  for (int64_t d = 0; d < dim_; ++d) acc[d] += w * row[d];
}

void AttnRowSum::finish(float* out) const {
  float lane[64];
  for (int64_t d = 0; d < dim_; ++d) {
    for (int l = 0; l < lanes_; ++l) lane[l] = acc_[static_cast<size_t>(l * dim_ + d)];
    out[d] = lanes_ == 16 ? fold16(lane) : static_cast<float>(static_cast<double>(fold64(lane)));
  }
}

void layer_norm(const float* x, const float* weight, const float* bias, float* out, int64_t n,
                float eps) {
  double sum = 0.0;
  for (int64_t i = 0; i < n; ++i) sum += static_cast<double>(x[i]);
  const double mean = sum / static_cast<double>(n);
  double squares = 0.0;
  for (int64_t i = 0; i < n; ++i) {
    const double d = static_cast<double>(x[i]) - mean;
    squares += d * d;
  }
  const double var = squares / static_cast<double>(n);
  const float m = static_cast<float>(mean);
  const float rstd = static_cast<float>(1.0 / std::sqrt(var + static_cast<double>(eps)));
  for (int64_t i = 0; i < n; ++i) out[i] = (x[i] - m) * rstd * weight[i] + bias[i];
}

namespace {
// erf(x) as a rational function (the odd/even polynomial pair of Eigen's and XLA's float erf),
// within 3.5e-7 of erf (5.5 ulp) and exactly +-1 beyond |x| = 4; unlike the C library's erff it
// vectorizes, which makes GELU 10x cheaper.
[[gnu::always_inline]] inline float erf_rational(float a) {
  // x = a clamped to [-4, 4], on the bits: a float comparison here would keep GCC from
  // vectorizing the loop (it may trap, and -ftrapping-math forbids making it unconditional).
  const uint32_t bits = std::bit_cast<uint32_t>(a), magnitude = bits & 0x7fffffffu;
  constexpr uint32_t kFour = 0x40800000u;  // 4.0f; NaN becomes +-4 (GELU keeps NaN anyway)
  const float x =
      std::bit_cast<float>((magnitude < kFour ? magnitude : kFour) | (bits & ~0x7fffffffu));
  const float x2 = x * x;
  float p = std::fma(x2, -2.72614225801306e-10f, 2.77068142495902e-08f);
  p = std::fma(x2, p, -2.10102402082508e-06f);
  p = std::fma(x2, p, -5.69250639462346e-05f);
  p = std::fma(x2, p, -7.34990630326855e-04f);
  p = std::fma(x2, p, -2.95459980854025e-03f);
  p = std::fma(x2, p, -1.60960333262415e-02f);
  float q = std::fma(x2, -1.45660718464996e-05f, -2.13374055278905e-04f);
  q = std::fma(x2, q, -1.68282697438203e-03f);
  q = std::fma(x2, q, -7.37332916720468e-03f);
  q = std::fma(x2, q, -1.42647390514189e-02f);
  return x * p / q;
}
}  // namespace

SS_CLONES void gelu_erf(float* x, int64_t n) {
  constexpr float kSqrtHalf = 0.70710678118654752f;
  for (int64_t i = 0; i < n; ++i) x[i] = 0.5f * x[i] * (1.0f + erf_rational(x[i] * kSqrtHalf));
}

void rope_cache(const RopeParams& p, int64_t pos, float* cos_sin) {
  const float theta_scale = std::pow(p.freq_base, -2.0f / static_cast<float>(p.n_rot));
  float theta = static_cast<float>(pos);
  for (int64_t i = 0; i < p.n_rot / 2; ++i) {
    const float factor = p.freq_factors ? p.freq_factors[i] : 1.0f;
    const float angle = p.freq_scale * (theta / factor);
    cos_sin[2 * i] = std::cos(angle);
    cos_sin[2 * i + 1] = std::sin(angle);
    theta *= theta_scale;
  }
}

SS_CLONES void rope_apply(const RopeParams& p, const float* cos_sin, float* x, int64_t n_heads,
                          int64_t head_dim) {
  const int64_t half = p.n_rot / 2;
  for (int64_t h = 0; h < n_heads; ++h) {
    float* v = x + h * head_dim;
    for (int64_t i = 0; i < half; ++i) {
      const float c = cos_sin[2 * i], s = cos_sin[2 * i + 1];
      const int64_t a = p.neox ? i : 2 * i;
      const int64_t b = p.neox ? i + half : 2 * i + 1;
      const float x0 = v[a], x1 = v[b];
      v[a] = std::fma(x0, c, -(x1 * s));
      v[b] = std::fma(x0, s, x1 * c);
    }
  }
}

}  // namespace shardserve::kernels
