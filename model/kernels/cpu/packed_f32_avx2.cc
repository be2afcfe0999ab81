// AVX2 product with packed F32 panels (model/kernels/cpu/packed_f32.h): tiles of 1 panel
// (16 rows, two registers) x 6 tokens, 12 accumulators; per column k, 2 panel vectors loaded
// and 6 activations broadcast. Built with -mavx2 -mfma; only called after CPUID says so.
#include <algorithm>

#include "model/kernels/cpu/packed_f32.h"

#if defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>

namespace shardserve::kernels {
namespace {

constexpr int kTokens = 6;

template <int T>
void tile(const float* w, int64_t k_begin, int64_t k_end, const float* x, int64_t xs, float* out,
          int64_t ldo, int64_t lo, int64_t hi) {
  __m256 acc[2][T];
#pragma GCC unroll 8
  for (int h = 0; h < 2; ++h)
#pragma GCC unroll 8
    for (int t = 0; t < T; ++t) acc[h][t] = _mm256_setzero_ps();
  for (int64_t k = k_begin; k < k_end; ++k) {
    const __m256 w0 = _mm256_load_ps(w + k * kPanelRows);
    const __m256 w1 = _mm256_load_ps(w + k * kPanelRows + 8);
#pragma GCC unroll 8
    for (int t = 0; t < T; ++t) {
      const __m256 xb = _mm256_broadcast_ss(x + t * xs + k);
      acc[0][t] = _mm256_fmadd_ps(w0, xb, acc[0][t]);
      acc[1][t] = _mm256_fmadd_ps(w1, xb, acc[1][t]);
    }
  }
  for (int t = 0; t < T; ++t) {
    if (lo == 0 && hi == kPanelRows) {
      _mm256_storeu_ps(out + t * ldo, acc[0][t]);
      _mm256_storeu_ps(out + t * ldo + 8, acc[1][t]);
    } else {  // rows [lo, hi) of the panel only
      alignas(32) float lanes[kPanelRows];
      _mm256_store_ps(lanes, acc[0][t]);
      _mm256_store_ps(lanes + 8, acc[1][t]);
      std::copy(lanes + lo, lanes + hi, out + t * ldo + lo);
    }
  }
}

using TileFn = void (*)(const float*, int64_t, int64_t, const float*, int64_t, float*, int64_t,
                        int64_t, int64_t);
constexpr TileFn kTiles[kTokens] = {tile<1>, tile<2>, tile<3>, tile<4>, tile<5>, tile<6>};

void packed_matmul(const float* panels, int64_t n_cols, int64_t row_begin, int64_t row_end,
                   int64_t k_begin, int64_t k_end, const float* x, int64_t x_stride,
                   int64_t n_tokens, float* out, int64_t ldo) {
  const int64_t first = row_begin / kPanelRows, last = (row_end + kPanelRows - 1) / kPanelRows;
  for (int64_t p = first; p < last; ++p) {
    const int64_t lo = std::max<int64_t>(row_begin - p * kPanelRows, 0);
    const int64_t hi = std::min<int64_t>(row_end - p * kPanelRows, kPanelRows);
    for (int64_t t = 0; t < n_tokens; t += kTokens) {
      const int64_t nt = std::min<int64_t>(kTokens, n_tokens - t);
      kTiles[nt - 1](panels + p * n_cols * kPanelRows, k_begin, k_end, x + t * x_stride, x_stride,
                     out + t * ldo + p * kPanelRows, ldo, lo, hi);
    }
  }
}

}  // namespace

PackedMatmulFn internal::packed_matmul_f32_avx2() {
  return packed_matmul;
}

}  // namespace shardserve::kernels

#else
namespace shardserve::kernels {
PackedMatmulFn internal::packed_matmul_f32_avx2() {
  return nullptr;
}
}  // namespace shardserve::kernels
#endif
