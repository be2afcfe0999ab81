// AVX-512 multi-token f32 products (model/kernels/cpu/matmul_f32.h): tiles of 4 weight rows x 6
// tokens, 24 accumulators in registers. Each output reproduces quant_avx512.cc's dot_f32: lane
// accumulators acc0..acc3 over the 16-float quarters of every 64-float chunk, the tail in
// 16-float steps (the last one masked) into acc0, then reduce((acc0 + acc1) + (acc2 + acc3)).
// The tile computes those accumulators one quarter at a time (four passes over the chunk, each
// reading its own cache lines), keeping the partial sums of finished quarters in memory.
// Built with -mavx512f -mfma; only called after CPUID says the CPU has AVX-512.
#include <algorithm>

#include "model/kernels/cpu/matmul_f32.h"

#if defined(__AVX512F__) && defined(__FMA__)
#if defined(__GNUC__) && !defined(__clang__) && __GNUC__ < 13  // GCC PR105593 in its headers
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#include <immintrin.h>

namespace shardserve::kernels {
namespace {

constexpr int kRows = 4, kTokens = 6;
// Tokens per block: a block of activation rows (at most this many floats) stays in L2 while
// every row tile of the thread's range passes over it.
constexpr int64_t kBlockFloats = 96 * 1024;

// acc[r][t] = sum over full 64-float chunks of w[r][i + q .. + 16) * x[t][i + q .. + 16).
template <int R, int T>
inline void quarter(__m512 (&acc)[R][T], const float* w, int64_t ws, const float* x, int64_t xs,
                    int64_t q, int64_t n64) {
#pragma GCC unroll 8
  for (int r = 0; r < R; ++r)
#pragma GCC unroll 8
    for (int t = 0; t < T; ++t) acc[r][t] = _mm512_setzero_ps();
  for (int64_t i = q; i < n64; i += 64) {
    __m512 wv[R];
#pragma GCC unroll 8
    for (int r = 0; r < R; ++r) wv[r] = _mm512_loadu_ps(w + r * ws + i);
#pragma GCC unroll 8
    for (int t = 0; t < T; ++t) {
      const __m512 xv = _mm512_loadu_ps(x + t * xs + i);
#pragma GCC unroll 8
      for (int r = 0; r < R; ++r) acc[r][t] = _mm512_fmadd_ps(wv[r], xv, acc[r][t]);
    }
  }
}

template <int R, int T>
void tile(const float* w, int64_t ws, const float* x, int64_t xs, int64_t n, float* out,
          int64_t ldo) {
  const int64_t n64 = n - n % 64;
  // a: acc0, then acc0 + acc1; b: acc1, then acc2; c: acc3. (Named arrays rather than copies,
  // which the compiler would turn into memory moves.)
  __m512 a[R][T], b[R][T], c[R][T];
  quarter<R, T>(a, w, ws, x, xs, 0, n64);  // acc0: first quarters, then the tail
  for (int64_t i = n64; i < n; i += 16) {
    const __mmask16 m = n - i >= 16 ? 0xffff : static_cast<__mmask16>((1u << (n - i)) - 1);
    __m512 wv[R];
#pragma GCC unroll 8
    for (int r = 0; r < R; ++r) wv[r] = _mm512_maskz_loadu_ps(m, w + r * ws + i);
#pragma GCC unroll 8
    for (int t = 0; t < T; ++t) {
      const __m512 xv = _mm512_maskz_loadu_ps(m, x + t * xs + i);
#pragma GCC unroll 8
      for (int r = 0; r < R; ++r) a[r][t] = _mm512_fmadd_ps(wv[r], xv, a[r][t]);
    }
  }
  quarter<R, T>(b, w, ws, x, xs, 16, n64);  // acc1
#pragma GCC unroll 8
  for (int r = 0; r < R; ++r)
#pragma GCC unroll 8
    for (int t = 0; t < T; ++t) a[r][t] = _mm512_add_ps(a[r][t], b[r][t]);
  quarter<R, T>(b, w, ws, x, xs, 32, n64);  // acc2
  quarter<R, T>(c, w, ws, x, xs, 48, n64);  // acc3
#pragma GCC unroll 8
  for (int r = 0; r < R; ++r)
#pragma GCC unroll 8
    for (int t = 0; t < T; ++t)
      out[t * ldo + r] =
          _mm512_reduce_add_ps(_mm512_add_ps(a[r][t], _mm512_add_ps(b[r][t], c[r][t])));
}

using TileFn = void (*)(const float*, int64_t, const float*, int64_t, int64_t, float*, int64_t);

template <int R>
constexpr TileFn kRowTiles[kTokens] = {tile<R, 1>, tile<R, 2>, tile<R, 3>,
                                       tile<R, 4>, tile<R, 5>, tile<R, 6>};
constexpr const TileFn* kTiles[kRows] = {kRowTiles<1>, kRowTiles<2>, kRowTiles<3>, kRowTiles<4>};

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

MatmulF32Fn internal::matmul_f32_avx512() {
  return matmul_f32;
}

}  // namespace shardserve::kernels

#else
namespace shardserve::kernels {
MatmulF32Fn internal::matmul_f32_avx512() {
  return nullptr;
}
}  // namespace shardserve::kernels
#endif
