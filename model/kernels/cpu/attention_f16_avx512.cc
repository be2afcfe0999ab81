// AVX-512 attention block kernels (model/kernels/cpu/attention_f16.h). Scores: 16 positions per
// register, up to 4 query heads x 4 partial sums = 16 accumulators, each transposed key row
// converted once for all heads. Weighted sum: up to 4 heads x 64 dimensions = 16 accumulators,
// each value row converted once for all heads. Built with -mavx512f -mf16c; only called after
// CPUID says the CPU has them.
#include <algorithm>

#include "model/kernels/cpu/attention_f16.h"

#if defined(__AVX512F__) && defined(__FMA__) && defined(__F16C__)
#if defined(__GNUC__) && !defined(__clang__) && __GNUC__ < 13  // GCC PR105593 in its headers
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#include <immintrin.h>

namespace shardserve::kernels {
namespace {

constexpr int kMaxHeads = 4;

__m512 load_f16(const uint16_t* p) {
  return _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)));
}

// Scores of G heads for the 16 positions at kt + j0 (lanes past `lanes` not stored).
template <int G>
void scores_tile(const float* q, int64_t head_dim, const uint16_t* kt, int64_t block_size,
                 int64_t j0, __mmask16 lanes, float* scores, int64_t ld) {
  __m512 acc[G][4];
#pragma GCC unroll 4
  for (int g = 0; g < G; ++g)
#pragma GCC unroll 4
    for (int j = 0; j < 4; ++j) acc[g][j] = _mm512_setzero_ps();
  for (int64_t d = 0; d < head_dim; d += 4) {
#pragma GCC unroll 4
    for (int j = 0; j < 4; ++j) {
      const __m512 k = load_f16(kt + (d + j) * block_size + j0);
#pragma GCC unroll 4
      for (int g = 0; g < G; ++g)
        acc[g][j] = _mm512_fmadd_ps(_mm512_set1_ps(q[g * head_dim + d + j]), k, acc[g][j]);
    }
  }
#pragma GCC unroll 4
  for (int g = 0; g < G; ++g) {
    const __m512 s =
        _mm512_add_ps(_mm512_add_ps(acc[g][0], acc[g][1]), _mm512_add_ps(acc[g][2], acc[g][3]));
    _mm512_mask_storeu_ps(scores + g * ld + j0, lanes, s);
  }
}

using ScoresTileFn = void (*)(const float*, int64_t, const uint16_t*, int64_t, int64_t, __mmask16,
                              float*, int64_t);
constexpr ScoresTileFn kScoresTiles[kMaxHeads] = {scores_tile<1>, scores_tile<2>, scores_tile<3>,
                                                  scores_tile<4>};

void block_scores(const float* q, int64_t n_heads, int64_t head_dim, const uint16_t* kt,
                  int64_t block_size, int64_t n, float* scores, int64_t ld) {
  for (int64_t j0 = 0; j0 < n; j0 += 16) {
    const int64_t m = std::min<int64_t>(16, n - j0);
    const auto lanes = static_cast<__mmask16>((1u << m) - 1);
    for (int64_t g0 = 0; g0 < n_heads; g0 += kMaxHeads) {
      const int64_t g = std::min<int64_t>(kMaxHeads, n_heads - g0);
      kScoresTiles[g - 1](q + g0 * head_dim, head_dim, kt, block_size, j0, lanes, scores + g0 * ld,
                          ld);
    }
  }
}

// out for G heads and dimensions [d0, d0 + 16 * D).
template <int G, int D>
void weighted_sum_tile(const float* w, int64_t ld, int64_t head_dim, const uint16_t* v, int64_t n,
                       int64_t d0, float* out) {
  __m512 acc[G][D];
#pragma GCC unroll 4
  for (int g = 0; g < G; ++g)
#pragma GCC unroll 4
    for (int i = 0; i < D; ++i) acc[g][i] = _mm512_loadu_ps(out + g * head_dim + d0 + 16 * i);
  for (int64_t p = 0; p < n; ++p) {
    __m512 val[D];
#pragma GCC unroll 4
    for (int i = 0; i < D; ++i) val[i] = load_f16(v + p * head_dim + d0 + 16 * i);
#pragma GCC unroll 4
    for (int g = 0; g < G; ++g) {
      const __m512 wg = _mm512_set1_ps(w[g * ld + p]);
#pragma GCC unroll 4
      for (int i = 0; i < D; ++i) acc[g][i] = _mm512_fmadd_ps(wg, val[i], acc[g][i]);
    }
  }
#pragma GCC unroll 4
  for (int g = 0; g < G; ++g)
#pragma GCC unroll 4
    for (int i = 0; i < D; ++i) _mm512_storeu_ps(out + g * head_dim + d0 + 16 * i, acc[g][i]);
}

using WeightedSumTileFn = void (*)(const float*, int64_t, int64_t, const uint16_t*, int64_t,
                                   int64_t, float*);
template <int G>
constexpr WeightedSumTileFn kSumTilesOf[4] = {weighted_sum_tile<G, 1>, weighted_sum_tile<G, 2>,
                                              weighted_sum_tile<G, 3>, weighted_sum_tile<G, 4>};
constexpr const WeightedSumTileFn* kSumTiles[kMaxHeads] = {kSumTilesOf<1>, kSumTilesOf<2>,
                                                           kSumTilesOf<3>, kSumTilesOf<4>};

void block_weighted_sum(const float* w, int64_t ld, int64_t n_heads, int64_t head_dim,
                        const uint16_t* v, int64_t n, float* out) {
  for (int64_t g0 = 0; g0 < n_heads; g0 += kMaxHeads) {
    const int64_t g = std::min<int64_t>(kMaxHeads, n_heads - g0);
    for (int64_t d0 = 0; d0 < head_dim; d0 += 64) {
      const int64_t d = std::min<int64_t>(4, (head_dim - d0) / 16);
      kSumTiles[g - 1][d - 1](w + g0 * ld, ld, head_dim, v, n, d0, out + g0 * head_dim);
    }
  }
}

const AttentionF16Kernels kAvx512{block_scores, block_weighted_sum};

}  // namespace

const AttentionF16Kernels* internal::attention_f16_avx512() {
  return &kAvx512;
}

}  // namespace shardserve::kernels

#else
namespace shardserve::kernels {
const AttentionF16Kernels* internal::attention_f16_avx512() {
  return nullptr;
}
}  // namespace shardserve::kernels
#endif
