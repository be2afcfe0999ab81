// AVX2 product with packed quant panels of the 32-column types (Q4_0, Q4_1, Q5_0, Q5_1, Q8_0;
// model/kernels/cpu/packed_quant.h), for CPUs without AVX-512 (work order and integer route in
// packed_quant_avx2.h). Per pass of up to 64 tokens and per panel, each block's quant tile is
// decoded once into L1; per tile of 16 rows x 2 tokens, vpmaddubsw of the 8 chunks against the
// tokens' broadcast 4-column groups, int16 sums (all 8 chunks for Q4_0 / Q4_1, 4 for Q5_0 / Q5_1,
// none for Q8_0's signed route) and vpmaddwd give the block's exact integer sums, which one
// convert, one multiply and one or two fused multiply-adds scale into the tokens' accumulators,
// as the reference does. Built with -mavx2 -mfma -mf16c; only called after CPUID says so.
#include "model/kernels/cpu/packed_quant.h"

#if defined(__AVX2__) && defined(__FMA__) && defined(__F16C__)
#include "model/kernels/cpu/packed_quant_avx2.h"

namespace shardserve::kernels {
namespace {

using internal::QuantBits;

constexpr size_t kHeaderBytes = 64;

template <DType kType>
constexpr QuantBits kBits = kType == DType::Q8_0                           ? QuantBits::k8
                            : kType == DType::Q5_0 || kType == DType::Q5_1 ? QuantBits::k5
                                                                           : QuantBits::k4;
template <DType kType>
constexpr bool kMin = kType == DType::Q4_1 || kType == DType::Q5_1;
// log2 of the offset that starts a block's sum at - offset * sum_x (packed_quant.h); none for
// the types with a min, nor for Q8_0, whose signed route multiplies q itself.
template <DType kType>
constexpr int kOffsetShift = kType == DType::Q4_0   ? 3
                             : kType == DType::Q5_0 ? 4
                                                    : -1;
template <DType kType>
constexpr size_t kRecordBytes = kHeaderBytes + internal::quant_tile_bytes(kBits<kType>);

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

// A block's scales and mins per half of the panel (rows 8h..8h+7), and its decoded quant tile.
template <DType kType>
struct DecodedBlock {
  __m256 d[2], m[2];
  avx2::DecodedTile<kBits<kType>> w;
};

template <DType kType>
void decode_block(const uint8_t* rec, DecodedBlock<kType>& blk) {
#pragma GCC unroll 2
  for (int h = 0; h < 2; ++h) {
    blk.d[h] = _mm256_cvtph_ps(_mm_load_si128(reinterpret_cast<const __m128i*>(rec + 16 * h)));
    if constexpr (kMin<kType>)
      blk.m[h] =
          _mm256_cvtph_ps(_mm_load_si128(reinterpret_cast<const __m128i*>(rec + 32 + 16 * h)));
  }
  avx2::decode_tile(rec + kHeaderBytes, blk.w);
}

// Block b for T tokens [t, t + T) (accumulators acc[0..T)).
template <DType kType, int T>
inline void block_tile(const DecodedBlock<kType>& blk, const ActView& x, int64_t b, int64_t t,
                       float (*acc)[kQuantPanelRows]) {
  constexpr int kGroup = avx2::kPairChunks<kBits<kType>>;
  const __m256i ones = _mm256_set1_epi16(1);
  const int8_t* q[T];
#pragma GCC unroll 4
  for (int i = 0; i < T; ++i) q[i] = x.quants(t + i, b);
  __m256i sum[T][2];
#pragma GCC unroll 8
  for (int c0 = 0; c0 < 8; c0 += kGroup) {
    __m256i p[T][2];
    for (auto& pt : p) pt[0] = pt[1] = _mm256_setzero_si256();
    avx2::add_pair_sums<kBits<kType>, T>(blk.w, q, c0, p);
#pragma GCC unroll 4
    for (int i = 0; i < T; ++i)
#pragma GCC unroll 2
      for (int h = 0; h < 2; ++h) {
        const __m256i s = _mm256_madd_epi16(p[i][h], ones);
        sum[i][h] = c0 == 0 ? s : _mm256_add_epi32(sum[i][h], s);
        avx2::keep_in_register(sum[i][h]);
      }
  }
#pragma GCC unroll 4
  for (int i = 0; i < T; ++i) {
    const ActBlockScale& sc = x.scale(t + i, b);
    const __m256 dx = _mm256_set1_ps(sc.d);
    __m256i offset = _mm256_setzero_si256();
    if constexpr (kOffsetShift<kType> >= 0)
      offset = _mm256_slli_epi32(_mm256_set1_epi32(sc.sum), kOffsetShift<kType>);
#pragma GCC unroll 2
    for (int h = 0; h < 2; ++h) {
      __m256i s = sum[i][h];
      if constexpr (kOffsetShift<kType> >= 0) s = _mm256_sub_epi32(s, offset);
      float* a = acc[i] + 8 * h;
      __m256 v =
          _mm256_fmadd_ps(_mm256_cvtepi32_ps(s), _mm256_mul_ps(blk.d[h], dx), _mm256_load_ps(a));
      if constexpr (kMin<kType>) v = _mm256_fmadd_ps(blk.m[h], _mm256_set1_ps(sc.s), v);
      _mm256_store_ps(a, v);
    }
  }
}

// One panel (record of block b at rec + b * kRecordBytes) x tokens [t0, t0 + n), blocks
// [b_begin, b_end); stores rows [lo, hi) of out[(t0 + t) * ldo + lane].
template <DType kType>
void panel_product(const uint8_t* rec, int64_t b_begin, int64_t b_end, const ActView& x, int64_t t0,
                   int64_t n, float* out, int64_t ldo, int64_t lo, int64_t hi) {
  avx2::PanelAccumulators acc(n);
  DecodedBlock<kType> blk;
  for (int64_t b = b_begin; b < b_end; ++b) {
    decode_block<kType>(rec + b * kRecordBytes<kType>, blk);
    avx2::for_each_token_tile<avx2::kTileTokens>(n, [&](auto tokens, int64_t t) {
      block_tile<kType, decltype(tokens)::value>(blk, x, b, t0 + t, acc.acc + t);
    });
  }
  for (int64_t t = 0; t < n; ++t) acc.store(t, lo, hi, out + (t0 + t) * ldo);
}

template <DType kType>
void matmul(const uint8_t* panels, int64_t n_cols, int64_t row_begin, int64_t row_end,
            int64_t b_begin, int64_t b_end, const QuantActivations& x, float* out, int64_t ldo) {
  const bool q8_1 = x.type == DType::Q8_1;
  const ActView view{.rows = x.rows,
                     .row_stride = x.row_stride,
                     .block_bytes = q8_1 ? 36u : 34u,
                     .qs_offset = q8_1 ? 4u : 2u,
                     .scales = x.scales,
                     .scales_stride = x.scales_stride};
  const size_t panel_bytes = (n_cols / 32) * kRecordBytes<kType>;
  avx2::for_each_panel(row_begin, row_end, x.n_tokens,
                       [&](int64_t p, int64_t lo, int64_t hi, int64_t t0, int64_t n) {
                         panel_product<kType>(panels + p * panel_bytes, b_begin, b_end, view, t0, n,
                                              out + p * kQuantPanelRows, ldo, lo, hi);
                       });
}

void packed_quant_matmul(DType type, const uint8_t* panels, int64_t n_cols, int64_t row_begin,
                         int64_t row_end, int64_t b_begin, int64_t b_end, const QuantActivations& x,
                         float* out, int64_t ldo) {
  switch (type) {
    case DType::Q4_0:
      return matmul<DType::Q4_0>(panels, n_cols, row_begin, row_end, b_begin, b_end, x, out, ldo);
    case DType::Q4_1:
      return matmul<DType::Q4_1>(panels, n_cols, row_begin, row_end, b_begin, b_end, x, out, ldo);
    case DType::Q5_0:
      return matmul<DType::Q5_0>(panels, n_cols, row_begin, row_end, b_begin, b_end, x, out, ldo);
    case DType::Q5_1:
      return matmul<DType::Q5_1>(panels, n_cols, row_begin, row_end, b_begin, b_end, x, out, ldo);
    default:
      return matmul<DType::Q8_0>(panels, n_cols, row_begin, row_end, b_begin, b_end, x, out, ldo);
  }
}

}  // namespace

PackedQuantMatmulFn internal::packed_quant_matmul_avx2() {
  return packed_quant_matmul;
}

}  // namespace shardserve::kernels

#else
namespace shardserve::kernels {
PackedQuantMatmulFn internal::packed_quant_matmul_avx2() {
  return nullptr;
}
}  // namespace shardserve::kernels
#endif
