// AVX-512 VNNI product with packed quant panels of the 32-column types (Q4_0, Q4_1, Q5_0, Q5_1,
// Q8_0; model/kernels/cpu/packed_quant.h): tiles of one panel (16 rows) x up to 8 tokens. Per
// block, the panel's 8 quant vectors (16 rows x 4 columns each) are decoded once into registers;
// per token, 8 vpdpbusd against the token's broadcast 4-column groups give the block's exact
// integer sums of all 16 rows, which one convert, one multiply and one or two fused multiply-adds
// scale into the token's accumulator. 8 tokens x (sum + accumulator) + 8 quant vectors + 2 scale
// vectors = 26 of 32 registers. Built with -mavx512f -mavx512bw -mavx512vnni -mf16c; only called
// after CPUID says the CPU has them.
#include "model/kernels/cpu/packed_quant.h"

#if defined(__AVX512F__) && defined(__AVX512BW__) && defined(__AVX512VNNI__) && \
    defined(__FMA__) && defined(__F16C__)
#if defined(__GNUC__) && !defined(__clang__) && __GNUC__ < 13  // GCC PR105593 in its headers
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#include <utility>

#include "model/kernels/cpu/packed_quant_avx512.h"

namespace shardserve::kernels {
namespace {

using avx512::broadcast_u32;
using internal::QuantBits;
constexpr int kTokens = avx512::kTileTokens;
constexpr size_t kHeaderBytes = 64;

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

// One panel (record of block b at rec + b * kRecordBytes) x T tokens [t0, t0 + T), blocks
// [b_begin, b_end); stores the rows in `mask` of out[(t0 + t) * ldo + lane]. `offset` is the
// type's quant offset (packed_quant.h).
template <QuantBits kBits, bool kMin, int T>
void tile(const uint8_t* rec, int64_t b_begin, int64_t b_end, const ActView& x, int offset,
          int64_t t0, float* out, int64_t ldo, __mmask16 mask) {
  constexpr size_t kRecordBytes = kHeaderBytes + internal::quant_tile_bytes(kBits);
  __m512 acc[T];
#pragma GCC unroll 8
  for (int t = 0; t < T; ++t) acc[t] = _mm512_setzero_ps();
  for (int64_t b = b_begin; b < b_end; ++b) {
    const uint8_t* r = rec + b * kRecordBytes;
    const __m512 d = _mm512_cvtph_ps(_mm256_load_si256(reinterpret_cast<const __m256i*>(r)));
    __m512 m = _mm512_setzero_ps();
    if constexpr (kMin)
      m = _mm512_cvtph_ps(_mm256_load_si256(reinterpret_cast<const __m256i*>(r + 32)));
    __m512i w[8];
    avx512::decode_tile<kBits>(r + kHeaderBytes, w);
#pragma GCC unroll 8
    for (int t = 0; t < T; ++t) {
      const int8_t* q = x.quants(t0 + t, b);
      const ActBlockScale& sc = x.scale(t0 + t, b);
      // Two independent chains of 4 (integer sums: the split changes nothing), so a lone token
      // does not wait on 8 dependent vpdpbusd.
      __m512i s0 = kMin ? _mm512_setzero_si512() : _mm512_set1_epi32(-offset * sc.sum);
      __m512i s1 = _mm512_setzero_si512();
#pragma GCC unroll 4
      for (int c = 0; c < 8; c += 2) {
        s0 = _mm512_dpbusd_epi32(s0, w[c], broadcast_u32(q + 4 * c));
        s1 = _mm512_dpbusd_epi32(s1, w[c + 1], broadcast_u32(q + 4 * c + 4));
      }
      const __m512 sum = _mm512_cvtepi32_ps(_mm512_add_epi32(s0, s1));
      acc[t] = _mm512_fmadd_ps(sum, _mm512_mul_ps(d, _mm512_set1_ps(sc.d)), acc[t]);
      if constexpr (kMin) acc[t] = _mm512_fmadd_ps(m, _mm512_set1_ps(sc.s), acc[t]);
    }
  }
#pragma GCC unroll 8
  for (int t = 0; t < T; ++t) _mm512_mask_storeu_ps(out + (t0 + t) * ldo, mask, acc[t]);
}

using TileFn = void (*)(const uint8_t*, int64_t, int64_t, const ActView&, int, int64_t, float*,
                        int64_t, __mmask16);

template <QuantBits kBits, bool kMin>
constexpr TileFn kTiles[kTokens] = {
    tile<kBits, kMin, 1>, tile<kBits, kMin, 2>, tile<kBits, kMin, 3>, tile<kBits, kMin, 4>,
    tile<kBits, kMin, 5>, tile<kBits, kMin, 6>, tile<kBits, kMin, 7>, tile<kBits, kMin, 8>};

// The tiles of a type, and its quant offset.
std::pair<const TileFn*, int> tiles_of(DType type) {
  switch (type) {
    case DType::Q4_0:
      return {kTiles<QuantBits::k4, false>, 8};
    case DType::Q4_1:
      return {kTiles<QuantBits::k4, true>, 0};
    case DType::Q5_0:
      return {kTiles<QuantBits::k5, false>, 16};
    case DType::Q5_1:
      return {kTiles<QuantBits::k5, true>, 0};
    default:
      return {kTiles<QuantBits::k8, false>, 128};
  }
}

void packed_quant_matmul(DType type, const uint8_t* panels, int64_t n_cols, int64_t row_begin,
                         int64_t row_end, int64_t b_begin, int64_t b_end, const QuantActivations& x,
                         float* out, int64_t ldo) {
  const bool q8_1 = x.type == DType::Q8_1;
  const ActView view{.rows = x.rows,
                     .row_stride = x.row_stride,
                     .block_bytes = q8_1 ? 36u : 34u,
                     .qs_offset = q8_1 ? 4u : 2u,
                     .scales = x.scales,
                     .scales_stride = x.scales_stride};
  const auto [tiles, offset] = tiles_of(type);
  avx512::for_each_tile(
      panels, (n_cols / 32) * quant_panel_block_bytes(type), row_begin, row_end, x.n_tokens, out,
      [&](const uint8_t* rec, __mmask16 mask, float* out_p, int64_t t, int64_t n) {
        tiles[n - 1](rec, b_begin, b_end, view, offset, t, out_p, ldo, mask);
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
