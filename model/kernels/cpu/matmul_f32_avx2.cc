// AVX2 multi-token f32 products (model/kernels/cpu/matmul_f32.h): tiles of 3 weight rows x 4
// tokens, 12 accumulators in the 16 registers. Each output reproduces quant_avx2.cc's dot_f32:
// lane accumulators acc0..acc3 over the 8-float quarters of every 32-float chunk, then 8-float
// steps into acc0, hsum((acc0 + acc1) + (acc2 + acc3)), then the last n % 8 products added one
// by one. The tile computes the accumulators one quarter at a time (see matmul_f32_avx512.cc).
// Built with -mavx2 -mfma -mf16c, as quant_avx2.cc (the scalar tail must compile the same);
// only called after CPUID says the CPU has AVX2 and FMA.
#include <algorithm>

#include "model/kernels/cpu/matmul_f32.h"

#if defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>

namespace shardserve::kernels {
namespace {

constexpr int kRows = 3, kTokens = 4;
constexpr int64_t kBlockFloats = 64 * 1024;

// quant_avx2.cc's hsum, operation for operation.
float hsum(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

// acc[r][t] = sum over the steps i = q, q + step, ... < end of w[r][i .. + 8) * x[t][i .. + 8).
template <int R, int T>
inline void accumulate(__m256 (&acc)[R][T], const float* w, int64_t ws, const float* x, int64_t xs,
                       int64_t q, int64_t end, int64_t step) {
  for (int64_t i = q; i < end; i += step) {
    __m256 wv[R];
#pragma GCC unroll 8
    for (int r = 0; r < R; ++r) wv[r] = _mm256_loadu_ps(w + r * ws + i);
#pragma GCC unroll 8
    for (int t = 0; t < T; ++t) {
      const __m256 xv = _mm256_loadu_ps(x + t * xs + i);
#pragma GCC unroll 8
      for (int r = 0; r < R; ++r) acc[r][t] = _mm256_fmadd_ps(wv[r], xv, acc[r][t]);
    }
  }
}

template <int R, int T>
void zero(__m256 (&acc)[R][T]) {
#pragma GCC unroll 8
  for (int r = 0; r < R; ++r)
#pragma GCC unroll 8
    for (int t = 0; t < T; ++t) acc[r][t] = _mm256_setzero_ps();
}

template <int R, int T>
void tile(const float* w, int64_t ws, const float* x, int64_t xs, int64_t n, float* out,
          int64_t ldo) {
  const int64_t n32 = n - n % 32, n8 = n - n % 8;
  // a: acc0, then acc0 + acc1; b: acc1, then acc2; c: acc3 (see matmul_f32_avx512.cc).
  __m256 a[R][T], b[R][T], c[R][T];
  zero(a);
  accumulate<R, T>(a, w, ws, x, xs, 0, n32, 32);  // acc0: first quarters,
  accumulate<R, T>(a, w, ws, x, xs, n32, n8, 8);  // then 8-float steps
  zero(b);
  accumulate<R, T>(b, w, ws, x, xs, 8, n32, 32);  // acc1
#pragma GCC unroll 8
  for (int r = 0; r < R; ++r)
#pragma GCC unroll 8
    for (int t = 0; t < T; ++t) a[r][t] = _mm256_add_ps(a[r][t], b[r][t]);
  zero(b);
  accumulate<R, T>(b, w, ws, x, xs, 16, n32, 32);  // acc2
  zero(c);
  accumulate<R, T>(c, w, ws, x, xs, 24, n32, 32);  // acc3
  for (int r = 0; r < R; ++r) {
    for (int t = 0; t < T; ++t) {
      const float* wr = w + r * ws;
      const float* xt = x + t * xs;
      float sum = hsum(_mm256_add_ps(a[r][t], _mm256_add_ps(b[r][t], c[r][t])));
      for (int64_t i = n8; i < n; ++i) sum += wr[i] * xt[i];
      out[t * ldo + r] = sum;
    }
  }
}

using TileFn = void (*)(const float*, int64_t, const float*, int64_t, int64_t, float*, int64_t);

template <int R>
constexpr TileFn kRowTiles[kTokens] = {tile<R, 1>, tile<R, 2>, tile<R, 3>, tile<R, 4>};
constexpr const TileFn* kTiles[kRows] = {kRowTiles<1>, kRowTiles<2>, kRowTiles<3>};

void matmul_f32(const float* w, int64_t w_stride, int64_t n_rows, const float* x, int64_t x_stride,
                int64_t n_tokens, int64_t n, float* out, int64_t ldo) {
  const int64_t block =
      std::max<int64_t>(kTokens, kBlockFloats / std::max<int64_t>(n, 1) / kTokens * kTokens);
  for (int64_t t0 = 0; t0 < n_tokens; t0 += block) {
    const int64_t t1 = std::min(n_tokens, t0 + block);
    for (int64_t r = 0; r < n_rows; r += kRows) {
      const int64_t rr = std::min<int64_t>(kRows, n_rows - r);
      for (int64_t t = t0; t < t1; t += kTokens) {
        const int64_t tt = std::min<int64_t>(kTokens, t1 - t);
        kTiles[rr - 1][tt - 1](w + r * w_stride, w_stride, x + t * x_stride, x_stride, n,
                               out + t * ldo + r, ldo);
      }
    }
  }
}

}  // namespace

MatmulF32Fn internal::matmul_f32_avx2() {
  return matmul_f32;
}

}  // namespace shardserve::kernels

#else
namespace shardserve::kernels {
MatmulF32Fn internal::matmul_f32_avx2() {
  return nullptr;
}
}  // namespace shardserve::kernels
#endif
