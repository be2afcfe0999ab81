// AVX-512 VNNI product with packed quant panels (model/kernels/cpu/packed_quant.h): tiles
// of one panel (16 rows) x up to 8 tokens. Per block, the panel's 8 quant vectors (16 rows x 4
// columns each) are decoded once into registers; per token, 8 vpdpbusd against the token's
// broadcast 4-column groups give the block's exact integer sums of all 16 rows, which one
// convert, one multiply and one or two fused multiply-adds scale into the token's accumulator.
// 8 tokens x (sum + accumulator) + 8 quant vectors + 2 scale vectors = 26 of 32 registers.
// Built with -mavx512f -mavx512bw -mavx512vnni -mf16c; only called after CPUID says the CPU has
// them.
#include "model/kernels/cpu/packed_quant.h"

#if defined(__AVX512F__) && defined(__AVX512BW__) && defined(__AVX512VNNI__) && \
    defined(__FMA__) && defined(__F16C__)
#if defined(__GNUC__) && !defined(__clang__) && __GNUC__ < 13  // GCC PR105593 in its headers
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#include "model/kernels/cpu/packed_quant_avx512.h"

namespace shardserve::kernels {
namespace {

using avx512::broadcast_u32;
constexpr int kTokens = avx512::kTileTokens;

// Where block b of token t's quants and scales are.
struct ActView {
  const uint8_t* rows;
  size_t row_stride;
  size_t block_bytes;  // 36 (Q8_1) or 34 (Q8_0)
  size_t qs_offset;    // 4 or 2
  const ActBlockScale* scales;
  int64_t scales_stride;

  const int8_t* quants(int64_t t, int64_t b) const {
    return reinterpret_cast<const int8_t*>(rows + t * row_stride + b * block_bytes + qs_offset);
  }
  const ActBlockScale& scale(int64_t t, int64_t b) const { return scales[t * scales_stride + b]; }
};

// One panel (record of block b at rec + b * block_bytes) x T tokens [t0, t0 + T), blocks
// [b_begin, b_end); stores the rows in `mask` of out[(t0 + t) * ldo + lane].
template <bool kQ4, int T>
void tile(const uint8_t* rec, size_t block_bytes, int64_t b_begin, int64_t b_end, const ActView& x,
          int64_t t0, float* out, int64_t ldo, __mmask16 mask) {
  __m512 acc[T];
#pragma GCC unroll 8
  for (int t = 0; t < T; ++t) acc[t] = _mm512_setzero_ps();
  const __m512i low_nibbles = _mm512_set1_epi8(0x0f);
  for (int64_t b = b_begin; b < b_end; ++b) {
    const uint8_t* r = rec + b * block_bytes;
    const __m512 d = _mm512_cvtph_ps(_mm256_load_si256(reinterpret_cast<const __m256i*>(r)));
    __m512 m = _mm512_setzero_ps();
    __m512i w[8];
    if constexpr (kQ4) {
      m = _mm512_cvtph_ps(_mm256_load_si256(reinterpret_cast<const __m256i*>(r + 32)));
#pragma GCC unroll 4
      for (int c = 0; c < 4; ++c) {
        const __m512i raw = _mm512_load_si512(r + 64 + 64 * c);
        w[c] = _mm512_and_si512(raw, low_nibbles);
        w[c + 4] = _mm512_and_si512(_mm512_srli_epi16(raw, 4), low_nibbles);
      }
    } else {
#pragma GCC unroll 8
      for (int c = 0; c < 8; ++c) w[c] = _mm512_load_si512(r + 64 + 64 * c);
    }
#pragma GCC unroll 8
    for (int t = 0; t < T; ++t) {
      const int8_t* q = x.quants(t0 + t, b);
      const ActBlockScale& sc = x.scale(t0 + t, b);
      // Two independent chains of 4 (integer sums: the split changes nothing), so a lone token
      // does not wait on 8 dependent vpdpbusd.
      __m512i s0 = kQ4 ? _mm512_setzero_si512() : _mm512_set1_epi32(sc.bias);
      __m512i s1 = _mm512_setzero_si512();
#pragma GCC unroll 4
      for (int c = 0; c < 8; c += 2) {
        s0 = _mm512_dpbusd_epi32(s0, w[c], broadcast_u32(q + 4 * c));
        s1 = _mm512_dpbusd_epi32(s1, w[c + 1], broadcast_u32(q + 4 * c + 4));
      }
      const __m512 sum = _mm512_cvtepi32_ps(_mm512_add_epi32(s0, s1));
      acc[t] = _mm512_fmadd_ps(sum, _mm512_mul_ps(d, _mm512_set1_ps(sc.d)), acc[t]);
      if constexpr (kQ4) acc[t] = _mm512_fmadd_ps(m, _mm512_set1_ps(sc.s), acc[t]);
    }
  }
#pragma GCC unroll 8
  for (int t = 0; t < T; ++t) _mm512_mask_storeu_ps(out + (t0 + t) * ldo, mask, acc[t]);
}

using TileFn = void (*)(const uint8_t*, size_t, int64_t, int64_t, const ActView&, int64_t, float*,
                        int64_t, __mmask16);

template <bool kQ4>
constexpr TileFn kTiles[kTokens] = {tile<kQ4, 1>, tile<kQ4, 2>, tile<kQ4, 3>, tile<kQ4, 4>,
                                    tile<kQ4, 5>, tile<kQ4, 6>, tile<kQ4, 7>, tile<kQ4, 8>};

void packed_quant_matmul(DType type, const uint8_t* panels, int64_t n_cols, int64_t row_begin,
                         int64_t row_end, int64_t b_begin, int64_t b_end, const QuantActivations& x,
                         float* out, int64_t ldo) {
  const bool q4 = type == DType::Q4_1;
  const size_t block_bytes = quant_panel_block_bytes(type);
  const ActView view{.rows = x.rows,
                     .row_stride = x.row_stride,
                     .block_bytes = q4 ? 36u : 34u,
                     .qs_offset = q4 ? 4u : 2u,
                     .scales = x.scales,
                     .scales_stride = x.scales_stride};
  const TileFn* tiles = q4 ? kTiles<true> : kTiles<false>;
  avx512::for_each_tile(
      panels, (n_cols / 32) * block_bytes, row_begin, row_end, x.n_tokens, out,
      [&](const uint8_t* rec, __mmask16 mask, float* out_p, int64_t t, int64_t n) {
        tiles[n - 1](rec, block_bytes, b_begin, b_end, view, t, out_p, ldo, mask);
      });
}

}  // namespace

PackedQuantMatmulFn internal::packed_quant_matmul_avx512() {
  return packed_quant_matmul;
}

}  // namespace shardserve::kernels

#else
namespace shardserve::kernels {
PackedQuantMatmulFn internal::packed_quant_matmul_avx512() {
  return nullptr;
}
}  // namespace shardserve::kernels
#endif
