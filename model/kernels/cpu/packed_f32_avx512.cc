// AVX-512 product with packed F32 panels (model/kernels/cpu/packed_f32.h): tiles of 3 panels
// (48 rows) x 8 tokens, 24 accumulators in registers; per column k, 3 panel vectors loaded and 8
// activations broadcast. Built with -mavx512f -mfma; only called after CPUID says the CPU has it.
#include <algorithm>

#include "model/kernels/cpu/packed_f32.h"

#if defined(__AVX512F__) && defined(__FMA__)
#if defined(__GNUC__) && !defined(__clang__) && __GNUC__ < 13  // GCC PR105593 in its headers
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#include <immintrin.h>

namespace shardserve::kernels {
namespace {

constexpr int kPanels = 3, kTokens = 8;

// Rows [row_begin, row_end) of panel p as a lane mask.
__mmask16 rows_mask(int64_t p, int64_t row_begin, int64_t row_end) {
  const int64_t lo = std::max<int64_t>(row_begin - p * kPanelRows, 0);
  const int64_t hi = std::min<int64_t>(row_end - p * kPanelRows, kPanelRows);
  return static_cast<__mmask16>(((1u << hi) - 1) & ~((1u << lo) - 1));
}

template <int P, int T>
void tile(const float* w, int64_t panel_stride, int64_t k_begin, int64_t k_end, const float* x,
          int64_t xs, float* out, int64_t ldo, const __mmask16* masks) {
  __m512 acc[P][T];
#pragma GCC unroll 8
  for (int p = 0; p < P; ++p)
#pragma GCC unroll 8
    for (int t = 0; t < T; ++t) acc[p][t] = _mm512_setzero_ps();
  for (int64_t k = k_begin; k < k_end; ++k) {
    __m512 wv[P];
#pragma GCC unroll 8
    for (int p = 0; p < P; ++p) wv[p] = _mm512_load_ps(w + p * panel_stride + k * kPanelRows);
#pragma GCC unroll 8
    for (int t = 0; t < T; ++t) {
      const __m512 xb = _mm512_set1_ps(x[t * xs + k]);
#pragma GCC unroll 8
      for (int p = 0; p < P; ++p) acc[p][t] = _mm512_fmadd_ps(wv[p], xb, acc[p][t]);
    }
  }
#pragma GCC unroll 8
  for (int p = 0; p < P; ++p)
#pragma GCC unroll 8
    for (int t = 0; t < T; ++t)
      _mm512_mask_storeu_ps(out + t * ldo + p * kPanelRows, masks[p], acc[p][t]);
}

using TileFn = void (*)(const float*, int64_t, int64_t, int64_t, const float*, int64_t, float*,
                        int64_t, const __mmask16*);

template <int P>
constexpr TileFn kPanelTiles[kTokens] = {tile<P, 1>, tile<P, 2>, tile<P, 3>, tile<P, 4>,
                                         tile<P, 5>, tile<P, 6>, tile<P, 7>, tile<P, 8>};
constexpr const TileFn* kTiles[kPanels] = {kPanelTiles<1>, kPanelTiles<2>, kPanelTiles<3>};

void packed_matmul(const float* panels, int64_t n_cols, int64_t row_begin, int64_t row_end,
                   int64_t k_begin, int64_t k_end, const float* x, int64_t x_stride,
                   int64_t n_tokens, float* out, int64_t ldo) {
  const int64_t panel_stride = n_cols * kPanelRows;
  const int64_t first = row_begin / kPanelRows, last = (row_end + kPanelRows - 1) / kPanelRows;
  for (int64_t p0 = first; p0 < last; p0 += kPanels) {
    const int64_t np = std::min<int64_t>(kPanels, last - p0);
    __mmask16 masks[kPanels];
    for (int64_t p = 0; p < np; ++p) masks[p] = rows_mask(p0 + p, row_begin, row_end);
    for (int64_t t = 0; t < n_tokens; t += kTokens) {
      const int64_t nt = std::min<int64_t>(kTokens, n_tokens - t);
      kTiles[np - 1][nt - 1](panels + p0 * panel_stride, panel_stride, k_begin, k_end,
                             x + t * x_stride, x_stride, out + t * ldo + p0 * kPanelRows, ldo,
                             masks);
    }
  }
}

}  // namespace

PackedMatmulFn internal::packed_matmul_f32_avx512() {
  return packed_matmul;
}

}  // namespace shardserve::kernels

#else
namespace shardserve::kernels {
PackedMatmulFn internal::packed_matmul_f32_avx512() {
  return nullptr;
}
}  // namespace shardserve::kernels
#endif
