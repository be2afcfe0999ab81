// AVX-512 VNNI product with K-quant panels (Q3_K, Q4_K, Q5_K, Q6_K; layout and arithmetic in
// packed_quant.h): tiles of one panel (16 rows) x up to 8 tokens. Per 32-column sub-block, the
// panel's 8 quant vectors (16 rows x 4 columns, nibbles with their high bits merged in) are
// decoded once into registers; per token, 8 vpdpbusd give the sub-block's exact integer sums of
// all 16 rows, one vpmulld scales them by the rows' sub-block scales (two for Q3_K / Q6_K's
// 16-column groups, whose - 4 / - 32 offset starts each chain), and the super-block's sum is
// converted and scaled once; Q4_K / Q5_K's mins take 4 vpdpwssd of the rows' mins against the
// token's 32-column sums. Built with -mavx512f -mavx512bw -mavx512vnni -mf16c; only called after
// CPUID says the CPU has them.
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

using internal::QuantBits;

constexpr size_t kScalesEnd = 320, kMinsOffset = 192;
constexpr size_t kQ8KBytes = 292, kQ8KQuants = 4, kQ8KSums = 260;  // BlockQ8_K: d, qs, bsums

template <DType kType>
constexpr QuantBits kBits = kType == DType::Q6_K   ? QuantBits::k6
                            : kType == DType::Q5_K ? QuantBits::k5
                                                   : QuantBits::k4;
// Q3_K / Q6_K: signed scales per 16-column group, quants stored + kOffset.
template <DType kType>
constexpr bool kSignedGroups = kType == DType::Q6_K || kType == DType::Q3_K;
template <DType kType>
constexpr int kOffset = kType == DType::Q6_K ? 32 : 4;
template <DType kType>
constexpr size_t kSubBytes = internal::quant_tile_bytes(kBits<kType>);
template <DType kType>
constexpr size_t kRecordBytes = kScalesEnd + 8 * kSubBytes<kType>;

// Token t's super-block b of Q8_K activations, and its 32-column sums.
struct KActView {
  const uint8_t* rows;
  size_t row_stride;
  const int16_t* sub_sums;
  int64_t sub_sums_stride;

  const uint8_t* block(int64_t t, int64_t b) const { return rows + t * row_stride + b * kQ8KBytes; }
  float d(int64_t t, int64_t b) const {
    float v;
    std::memcpy(&v, block(t, b), sizeof v);
    return v;
  }
  const int8_t* quants(int64_t t, int64_t b) const {
    return reinterpret_cast<const int8_t*>(block(t, b) + kQ8KQuants);
  }
  int32_t bsum(int64_t t, int64_t b, int g) const {
    int16_t v;
    std::memcpy(&v, block(t, b) + kQ8KSums + 2 * g, sizeof v);
    return v;
  }
  const int16_t* sums(int64_t t, int64_t b) const { return sub_sums + t * sub_sums_stride + 8 * b; }
};

// One panel (record of super-block b at rec + b * kRecordBytes) x T tokens [t0, t0 + T),
// super-blocks [b_begin, b_end); stores the rows in `mask` of out[(t0 + t) * ldo + lane].
template <DType kType, int T>
void tile(const uint8_t* rec, int64_t b_begin, int64_t b_end, const KActView& x, int64_t t0,
          float* out, int64_t ldo, __mmask16 mask) {
  constexpr bool kQ6 = kSignedGroups<kType>;
  __m512 acc[T];
#pragma GCC unroll 8
  for (int t = 0; t < T; ++t) acc[t] = _mm512_setzero_ps();
  for (int64_t b = b_begin; b < b_end; ++b) {
    const uint8_t* r = rec + b * kRecordBytes<kType>;
    __m512i isum[T];
#pragma GCC unroll 8
    for (int t = 0; t < T; ++t) isum[t] = _mm512_setzero_si512();
    for (int sub = 0; sub < 8; ++sub) {
      __m512i w[8];
      avx512::decode_tile<kBits<kType>>(r + kScalesEnd + sub * kSubBytes<kType>, w);
      if constexpr (kQ6) {
        const auto* scales = reinterpret_cast<const __m128i*>(r + 64 + 32 * sub);
        const __m512i sc0 = _mm512_cvtepi8_epi32(_mm_load_si128(scales));
        const __m512i sc1 = _mm512_cvtepi8_epi32(_mm_load_si128(scales + 1));
#pragma GCC unroll 8
        for (int t = 0; t < T; ++t) {
          const int8_t* q = x.quants(t0 + t, b) + 32 * sub;
          __m512i s0 = _mm512_set1_epi32(-kOffset<kType> * x.bsum(t0 + t, b, 2 * sub));
          __m512i s1 = _mm512_set1_epi32(-kOffset<kType> * x.bsum(t0 + t, b, 2 * sub + 1));
#pragma GCC unroll 4
          for (int c = 0; c < 4; ++c) {
            s0 = _mm512_dpbusd_epi32(s0, w[c], broadcast_u32(q + 4 * c));
            s1 = _mm512_dpbusd_epi32(s1, w[c + 4], broadcast_u32(q + 16 + 4 * c));
          }
          isum[t] = _mm512_add_epi32(
              isum[t], _mm512_add_epi32(_mm512_mullo_epi32(s0, sc0), _mm512_mullo_epi32(s1, sc1)));
        }
      } else {
        const __m512i sc = _mm512_cvtepu8_epi32(
            _mm_load_si128(reinterpret_cast<const __m128i*>(r + 64 + 16 * sub)));
#pragma GCC unroll 8
        for (int t = 0; t < T; ++t) {
          const int8_t* q = x.quants(t0 + t, b) + 32 * sub;
          // Two independent chains of 4, so a lone token does not wait on 8 dependent vpdpbusd.
          __m512i s0 = _mm512_setzero_si512(), s1 = _mm512_setzero_si512();
#pragma GCC unroll 4
          for (int c = 0; c < 8; c += 2) {
            s0 = _mm512_dpbusd_epi32(s0, w[c], broadcast_u32(q + 4 * c));
            s1 = _mm512_dpbusd_epi32(s1, w[c + 1], broadcast_u32(q + 4 * c + 4));
          }
          isum[t] = _mm512_add_epi32(isum[t], _mm512_mullo_epi32(_mm512_add_epi32(s0, s1), sc));
        }
      }
    }
    const __m512 d = _mm512_cvtph_ps(_mm256_load_si256(reinterpret_cast<const __m256i*>(r)));
    if constexpr (kQ6) {
#pragma GCC unroll 8
      for (int t = 0; t < T; ++t)
        acc[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(isum[t]),
                                 _mm512_mul_ps(d, _mm512_set1_ps(x.d(t0 + t, b))), acc[t]);
    } else {
      const __m512 dmin =
          _mm512_cvtph_ps(_mm256_load_si256(reinterpret_cast<const __m256i*>(r + 32)));
      __m512i mins[4];
#pragma GCC unroll 4
      for (int i = 0; i < 4; ++i)
        mins[i] = _mm512_cvtepu8_epi16(
            _mm256_load_si256(reinterpret_cast<const __m256i*>(r + kMinsOffset + 32 * i)));
#pragma GCC unroll 8
      for (int t = 0; t < T; ++t) {
        const int16_t* sums = x.sums(t0 + t, b);
        __m512i n = _mm512_dpwssd_epi32(_mm512_setzero_si512(), mins[0], broadcast_u32(sums));
        n = _mm512_dpwssd_epi32(n, mins[1], broadcast_u32(sums + 2));
        n = _mm512_dpwssd_epi32(n, mins[2], broadcast_u32(sums + 4));
        n = _mm512_dpwssd_epi32(n, mins[3], broadcast_u32(sums + 6));
        const __m512 dx = _mm512_set1_ps(x.d(t0 + t, b));
        acc[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(isum[t]), _mm512_mul_ps(d, dx), acc[t]);
        acc[t] = _mm512_fnmadd_ps(_mm512_cvtepi32_ps(n), _mm512_mul_ps(dmin, dx), acc[t]);
      }
    }
  }
#pragma GCC unroll 8
  for (int t = 0; t < T; ++t) _mm512_mask_storeu_ps(out + (t0 + t) * ldo, mask, acc[t]);
}

using TileFn = void (*)(const uint8_t*, int64_t, int64_t, const KActView&, int64_t, float*, int64_t,
                        __mmask16);

template <DType kType>
constexpr TileFn kTiles[avx512::kTileTokens] = {tile<kType, 1>, tile<kType, 2>, tile<kType, 3>,
                                                tile<kType, 4>, tile<kType, 5>, tile<kType, 6>,
                                                tile<kType, 7>, tile<kType, 8>};

template <DType kType>
void kquant_matmul(const uint8_t* panels, int64_t n_cols, int64_t row_begin, int64_t row_end,
                   int64_t b_begin, int64_t b_end, const QuantActivations& x, float* out,
                   int64_t ldo) {
  const KActView view{.rows = x.rows,
                      .row_stride = x.row_stride,
                      .sub_sums = x.sub_sums,
                      .sub_sums_stride = x.sub_sums_stride};
  avx512::for_each_tile(
      panels, (n_cols / 256) * kRecordBytes<kType>, row_begin, row_end, x.n_tokens, out,
      [&](const uint8_t* rec, __mmask16 mask, float* out_p, int64_t t, int64_t n) {
        kTiles<kType>[n - 1](rec, b_begin, b_end, view, t, out_p, ldo, mask);
      });
}

void packed_kquant_matmul(DType type, const uint8_t* panels, int64_t n_cols, int64_t row_begin,
                          int64_t row_end, int64_t b_begin, int64_t b_end,
                          const QuantActivations& x, float* out, int64_t ldo) {
  switch (type) {
    case DType::Q3_K:
      return kquant_matmul<DType::Q3_K>(panels, n_cols, row_begin, row_end, b_begin, b_end, x, out,
                                        ldo);
    case DType::Q4_K:
      return kquant_matmul<DType::Q4_K>(panels, n_cols, row_begin, row_end, b_begin, b_end, x, out,
                                        ldo);
    case DType::Q5_K:
      return kquant_matmul<DType::Q5_K>(panels, n_cols, row_begin, row_end, b_begin, b_end, x, out,
                                        ldo);
    default:
      return kquant_matmul<DType::Q6_K>(panels, n_cols, row_begin, row_end, b_begin, b_end, x, out,
                                        ldo);
  }
}

}  // namespace

PackedQuantMatmulFn internal::packed_kquant_matmul_avx512() {
  return packed_kquant_matmul;
}

}  // namespace shardserve::kernels

#else
namespace shardserve::kernels {
PackedQuantMatmulFn internal::packed_kquant_matmul_avx512() {
  return nullptr;
}
}  // namespace shardserve::kernels
#endif
