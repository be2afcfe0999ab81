// AVX2 product with K-quant panels (Q3_K, Q4_K, Q5_K, Q6_K; layout and arithmetic in
// packed_quant.h), for CPUs without AVX-512 (work order and integer route in packed_quant_avx2.h).
// Per pass of up to 64 tokens and per panel, each super-block is decoded once into L1: its 8 quant
// tiles, and the rows' integer scales and mins widened to int16 pairs. Per tile of 16 rows x 2
// tokens and per sub-block, vpmaddubsw of the 8 chunks against the tokens' broadcast 4-column
// groups, int16 sums (8 chunks for Q4_K, 4 for Q5_K and Q3_K, 2 for Q6_K) and one vpmaddwd per
// group against the rows' scales add sc * (sum of q_w * q_x) into the super-block's exact integer
// sum; Q4_K / Q5_K's mins take 4 vpmaddwd of the rows' mins against the token's 32-column sums,
// Q3_K / Q6_K's
// - 4 / - 32 offset 8 vpmaddwd of the rows' scales against the token's 16-column sums
// (sc * (dot - o bsum) summed is sc * dot summed less o sc * bsum summed: the same integer). Then
// one convert and one or two fused multiply-adds, as the reference does. Built with -mavx2 -mfma
// -mf16c; only called after CPUID says so.
#include "model/kernels/cpu/packed_quant.h"

#if defined(__AVX2__) && defined(__FMA__) && defined(__F16C__)
#include <algorithm>

#include "model/kernels/cpu/packed_quant_avx2.h"

namespace shardserve::kernels {
namespace {

using internal::QuantBits;

constexpr size_t kScalesEnd = 320, kMinsOffset = 192;
constexpr size_t kQ8KBytes = 292, kQ8KQuants = 4, kQ8KSums = 260;  // BlockQ8_K: d, qs, bsums

template <DType kType>
constexpr QuantBits kBits = kType == DType::Q6_K   ? QuantBits::k6
                            : kType == DType::Q5_K ? QuantBits::k5
                                                   : QuantBits::k4;
// Q3_K / Q6_K: signed scales per 16-column group, quants stored + 2^kOffsetShift.
template <DType kType>
constexpr bool kSignedGroups = kType == DType::Q6_K || kType == DType::Q3_K;
template <DType kType>
constexpr int kOffsetShift = kType == DType::Q6_K ? 5 : 2;
// Chunks summed in int16 before one vpmaddwd against a scale: a signed-group type's group is 16
// columns (4 chunks) at most.
template <DType kType>
constexpr int kGroupChunks = kSignedGroups<kType> ? std::min(4, avx2::kPairChunks<kBits<kType>>)
                                                  : avx2::kPairChunks<kBits<kType>>;
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
  const uint8_t* bsums(int64_t t, int64_t b) const { return block(t, b) + kQ8KSums; }
  const int16_t* sums(int64_t t, int64_t b) const { return sub_sums + t * sub_sums_stride + 8 * b; }
};

// A super-block decoded, per half of the panel (rows 8h..8h+7). Integer scales are int16 pairs,
// a row's value in both halves of its 32-bit lane, so vpmaddwd of int16 pair sums against them
// gives sc * (sum of the pair sums) per row.
template <DType kType>
struct DecodedBlock {
  static constexpr bool kQ6 = kSignedGroups<kType>;
  __m256 d[2], dmin[2];
  __m256i scales[kQ6 ? 16 : 8][2];  // per 16-column group (Q3_K / Q6_K) or sub-block
  // Q4_K / Q5_K, [i][h]: a row's mins of sub-blocks 2i and 2i+1 (i = 0..3), against the token's
  // 32-column sums; Q3_K / Q6_K, [j][h]: a row's scales of groups 2j and 2j+1, against its bsums.
  __m256i pairs[kQ6 ? 8 : 4][2];
  avx2::DecodedTile<kBits<kType>> sub[8];
};

template <DType kType>
void decode_block(const uint8_t* rec, DecodedBlock<kType>& blk) {
  const auto load64 = [rec](size_t offset) {
    return _mm_loadl_epi64(reinterpret_cast<const __m128i*>(rec + offset));
  };
  const auto load128 = [rec](size_t offset) {
    return _mm_load_si128(reinterpret_cast<const __m128i*>(rec + offset));
  };
  // v (one value per 32-bit lane, sign- or zero-extended) in both int16 halves of the lane.
  const auto both_halves = [](__m256i v) {
    return _mm256_or_si256(_mm256_and_si256(v, _mm256_set1_epi32(0xffff)),
                           _mm256_slli_epi32(v, 16));
  };
#pragma GCC unroll 2
  for (int h = 0; h < 2; ++h) {
    blk.d[h] = _mm256_cvtph_ps(load128(16 * h));
    if constexpr (DecodedBlock<kType>::kQ6) {
#pragma GCC unroll 16
      for (int g = 0; g < 16; ++g)
        blk.scales[g][h] = both_halves(_mm256_cvtepi8_epi32(load64(64 + 16 * g + 8 * h)));
#pragma GCC unroll 8
      for (int j = 0; j < 8; ++j)
        blk.pairs[j][h] = _mm256_cvtepi8_epi16(
            _mm_unpacklo_epi8(load64(64 + 32 * j + 8 * h), load64(64 + 32 * j + 16 + 8 * h)));
    } else {
      blk.dmin[h] = _mm256_cvtph_ps(load128(32 + 16 * h));
#pragma GCC unroll 8
      for (int j = 0; j < 8; ++j)
        blk.scales[j][h] = both_halves(_mm256_cvtepu8_epi32(load64(64 + 16 * j + 8 * h)));
#pragma GCC unroll 4
      for (int i = 0; i < 4; ++i)
        blk.pairs[i][h] = _mm256_cvtepu8_epi16(load128(kMinsOffset + 32 * i + 16 * h));
    }
  }
  for (int s = 0; s < 8; ++s)
    avx2::decode_tile(rec + kScalesEnd + s * kSubBytes<kType>, blk.sub[s]);
}

// Super-block b for T tokens [t, t + T) (accumulators acc[0..T)).
template <DType kType, int T>
inline void block_tile(const DecodedBlock<kType>& blk, const KActView& x, int64_t b, int64_t t,
                       float (*acc)[kQuantPanelRows]) {
  constexpr bool kQ6 = DecodedBlock<kType>::kQ6;
  constexpr int kGroup = kGroupChunks<kType>;
  const int8_t* q[T];
#pragma GCC unroll 4
  for (int i = 0; i < T; ++i) q[i] = x.quants(t + i, b);
  __m256i isum[T][2];
#pragma GCC unroll 4
  for (int i = 0; i < T; ++i) isum[i][0] = isum[i][1] = _mm256_setzero_si256();
  for (int s = 0; s < 8; ++s) {
    const int8_t* qs[T];
#pragma GCC unroll 4
    for (int i = 0; i < T; ++i) qs[i] = q[i] + 32 * s;
#pragma GCC unroll 4
    for (int c0 = 0; c0 < 8; c0 += kGroup) {
      __m256i p[T][2];
      for (auto& pt : p) pt[0] = pt[1] = _mm256_setzero_si256();
      avx2::add_pair_sums<kBits<kType>, T, kGroup>(blk.sub[s], qs, c0, p);
      const __m256i* sc = blk.scales[kQ6 ? 2 * s + c0 / 4 : s];
#pragma GCC unroll 4
      for (int i = 0; i < T; ++i)
#pragma GCC unroll 2
        for (int h = 0; h < 2; ++h) {
          isum[i][h] = _mm256_add_epi32(isum[i][h], _mm256_madd_epi16(p[i][h], sc[h]));
          avx2::keep_in_register(isum[i][h]);
        }
    }
  }
#pragma GCC unroll 4
  for (int i = 0; i < T; ++i) {
    const __m256 dx = _mm256_set1_ps(x.d(t + i, b));
    const uint8_t* sums =
        kQ6 ? x.bsums(t + i, b) : reinterpret_cast<const uint8_t*>(x.sums(t + i, b));
#pragma GCC unroll 2
    for (int h = 0; h < 2; ++h) {
      // Q3_K / Q6_K: sum over groups g of sc_g * bsum_g; else sum over sub-blocks j of m_j *
      // sum_x[j].
      __m256i n = _mm256_madd_epi16(blk.pairs[0][h], avx2::broadcast_u32(sums));
#pragma GCC unroll 8
      for (int j = 1; j < (kQ6 ? 8 : 4); ++j)
        n = _mm256_add_epi32(n,
                             _mm256_madd_epi16(blk.pairs[j][h], avx2::broadcast_u32(sums + 4 * j)));
      float* a = acc[i] + 8 * h;
      if constexpr (kQ6) {
        const __m256i s = _mm256_sub_epi32(isum[i][h], _mm256_slli_epi32(n, kOffsetShift<kType>));
        _mm256_store_ps(a, _mm256_fmadd_ps(_mm256_cvtepi32_ps(s), _mm256_mul_ps(blk.d[h], dx),
                                           _mm256_load_ps(a)));
      } else {
        __m256 v = _mm256_fmadd_ps(_mm256_cvtepi32_ps(isum[i][h]), _mm256_mul_ps(blk.d[h], dx),
                                   _mm256_load_ps(a));
        v = _mm256_fnmadd_ps(_mm256_cvtepi32_ps(n), _mm256_mul_ps(blk.dmin[h], dx), v);
        _mm256_store_ps(a, v);
      }
    }
  }
}

// One panel (record of super-block b at rec + b * kRecordBytes) x tokens [t0, t0 + n),
// super-blocks [b_begin, b_end); stores rows [lo, hi) of out[(t0 + t) * ldo + lane].
template <DType kType>
void panel_product(const uint8_t* rec, int64_t b_begin, int64_t b_end, const KActView& x,
                   int64_t t0, int64_t n, float* out, int64_t ldo, int64_t lo, int64_t hi) {
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
void kquant_matmul(const uint8_t* panels, int64_t n_cols, int64_t row_begin, int64_t row_end,
                   int64_t b_begin, int64_t b_end, const QuantActivations& x, float* out,
                   int64_t ldo) {
  const KActView view{.rows = x.rows,
                      .row_stride = x.row_stride,
                      .sub_sums = x.sub_sums,
                      .sub_sums_stride = x.sub_sums_stride};
  const size_t panel_bytes = (n_cols / 256) * kRecordBytes<kType>;
  avx2::for_each_panel(row_begin, row_end, x.n_tokens,
                       [&](int64_t p, int64_t lo, int64_t hi, int64_t t0, int64_t n) {
                         panel_product<kType>(panels + p * panel_bytes, b_begin, b_end, view, t0, n,
                                              out + p * kQuantPanelRows, ldo, lo, hi);
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

PackedQuantMatmulFn internal::packed_kquant_matmul_avx2() {
  return packed_kquant_matmul;
}

}  // namespace shardserve::kernels

#else
namespace shardserve::kernels {
PackedQuantMatmulFn internal::packed_kquant_matmul_avx2() {
  return nullptr;
}
}  // namespace shardserve::kernels
#endif
