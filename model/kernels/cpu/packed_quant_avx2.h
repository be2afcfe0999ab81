// Shared by the AVX2 packed quant kernels (packed_quant_avx2.cc, packed_kquant_avx2.cc); include
// only from files built with -mavx2 -mfma -mf16c, after checking the macros below.
//
// A panel's 64-byte chunk (16 rows x 4 columns, packed_quant_layout.h) is two 256-bit halves,
// rows 0-7 and 8-15. Without vpdpbusd, 4 quants of 8 rows times 4 quants of a token (broadcast)
// is one vpmaddubsw (u8 x s8 -> int16 pairs, saturating); the pairs of as many chunks as stay
// below 2^15 are summed in int16 and widened by one vpmaddwd, against ones or against the rows'
// integer scales. Every integer is exact, so the sums are those of the scalar reference.
//
// Work order: a decoded tile is 16 vectors, every register there is, so instead of decoding it
// per tile of tokens into registers (as the AVX-512 kernels do), each block's tile is decoded once
// per pass of up to kTokenChunk tokens into an L1 buffer and applied from there to every token of
// the pass, kTileTokens at a time; the pass's float accumulators (16 rows x 64 tokens, 4 KB) wait
// in L1 between blocks, and each still sees the blocks in order.
#pragma once

#include <immintrin.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <type_traits>

#include "model/kernels/cpu/packed_quant.h"
#include "model/kernels/cpu/packed_quant_layout.h"

namespace shardserve::kernels::avx2 {

using internal::QuantBits;

// Tokens per pass over a row range: their activations (up to ~110 KB for 1536 columns) stay in
// L2 while every panel of the range is applied to them.
inline constexpr int64_t kTokenChunk = 64;
// Tokens per tile: 16 rows x 2 tokens keep every sum in a register for all types (4 int16 pair
// sums, 4 int32 sums, 2 quant vectors, a broadcast). Measured on Q4_0 / Q4_1, 3 or 4 tokens,
// which reload the decoded tile less often, were 5-20% slower.
inline constexpr int kTileTokens = 2;

// Chunks whose int16 pair sums add up exactly: a pair is at most 2 x (2^bits - 1) x 128. 8-bit
// quants go the signed route (decode_tile), whose pairs reach 2 x 128 x 127: one chunk.
template <QuantBits kBits>
inline constexpr int kPairChunks = kBits == QuantBits::k4   ? 8
                                   : kBits == QuantBits::k5 ? 4
                                   : kBits == QuantBits::k6 ? 2
                                                            : 1;
static_assert(8 * 2 * 15 * 128 < 32768 && 4 * 2 * 31 * 128 < 32768 && 2 * 2 * 63 * 128 < 32768);

// 4 bytes (4 quants, or 2 int16) at p, in every 32-bit lane.
inline __m256i broadcast_u32(const void* p) {
  int32_t v;
  std::memcpy(&v, p, sizeof v);
  return _mm256_set1_epi32(v);
}

// A quant tile decoded: q[2c + h] = rows 8h..8h+7 of chunk c (columns 4c..4c+3), the unsigned
// operand of vpmaddubsw. For 4..6 bits, the quants. For 8 bits the signed route, as q + 128
// times an activation would saturate: q[] holds |q| and sign[] q, with q = stored - 128, and
// vpmaddubsw(|q|, sign(x, q)) gives the pairs of q * x (so Q8_0 needs no - 128 * sum_x).
template <QuantBits kBits>
struct DecodedTile {
  __m256i q[16];
  __m256i sign[kBits == QuantBits::k8 ? 16 : 1];
};

template <QuantBits kBits>
inline void decode_tile(const uint8_t* tile, DecodedTile<kBits>& w) {
  const auto load = [tile](size_t offset) {
    return _mm256_load_si256(reinterpret_cast<const __m256i*>(tile + offset));
  };
  if constexpr (kBits == QuantBits::k8) {
    const __m256i bias = _mm256_set1_epi8(static_cast<char>(0x80));
#pragma GCC unroll 16
    for (int i = 0; i < 16; ++i) {
      const __m256i q = _mm256_xor_si256(load(32 * i), bias);
      w.sign[i] = q;
      w.q[i] = _mm256_abs_epi8(q);
    }
    return;
  }
  const __m256i low_nibbles = _mm256_set1_epi8(0x0f);
#pragma GCC unroll 8
  for (int i = 0; i < 8; ++i) {  // chunk c = i / 2, half h = i % 2; chunk c + 4 in high nibbles
    const __m256i raw = load(32 * i);
    w.q[i] = _mm256_and_si256(raw, low_nibbles);
    w.q[i + 8] = _mm256_and_si256(_mm256_srli_epi16(raw, 4), low_nibbles);
  }
  // Shifts by 16-bit lanes move each byte's bits within the byte, and the mask drops what crosses
  // into the next.
  if constexpr (kBits == QuantBits::k5) {
    const __m256i bit4 = _mm256_set1_epi8(0x10);
#pragma GCC unroll 2
    for (int h = 0; h < 2; ++h) {
      const __m256i high = load(internal::kNibbleBytes + 32 * h);  // bit c: chunk c's bit 4
      const __m256i shifted[8] = {_mm256_slli_epi16(high, 4),
                                  _mm256_slli_epi16(high, 3),
                                  _mm256_slli_epi16(high, 2),
                                  _mm256_slli_epi16(high, 1),
                                  high,
                                  _mm256_srli_epi16(high, 1),
                                  _mm256_srli_epi16(high, 2),
                                  _mm256_srli_epi16(high, 3)};
#pragma GCC unroll 8
      for (int c = 0; c < 8; ++c)
        w.q[2 * c + h] = _mm256_or_si256(w.q[2 * c + h], _mm256_and_si256(shifted[c], bit4));
    }
  }
  if constexpr (kBits == QuantBits::k6) {
    const __m256i bits45 = _mm256_set1_epi8(0x30);
#pragma GCC unroll 4
    for (int i = 0; i < 4; ++i) {  // plane i / 2, half i % 2: bits 2j, 2j+1 of chunk 4 (i / 2) + j
      const __m256i high = load(internal::kNibbleBytes + 32 * i);
      const __m256i shifted[4] = {_mm256_slli_epi16(high, 4), _mm256_slli_epi16(high, 2), high,
                                  _mm256_srli_epi16(high, 2)};
#pragma GCC unroll 4
      for (int j = 0; j < 4; ++j) {
        const int v = 2 * (4 * (i / 2) + j) + i % 2;
        w.q[v] = _mm256_or_si256(w.q[v], _mm256_and_si256(shifted[j], bits45));
      }
    }
  }
}

// An empty statement that needs v in a register: it orders a chain of sums. Without it, GCC
// reassociates the chains of an unrolled block into trees, computes every product ahead of its
// sum and spills them.
inline void keep_in_register(__m256i& v) {
  asm("" : "+x"(v));
}

// Adds to p[t][h] the int16 pair sums of chunks [c0, c0 + kChunks) of the decoded tile
// against token t's 32 quants q[t], rows 8h..8h+7 (kChunks <= kPairChunks, so no sum saturates).
template <QuantBits kBits, int T, int kChunks = kPairChunks<kBits>>
inline void add_pair_sums(const DecodedTile<kBits>& w, const int8_t* const* q, int c0,
                          __m256i p[][2]) {
  static_assert(kChunks <= kPairChunks<kBits>);
#pragma GCC unroll 8
  for (int c = c0; c < c0 + kChunks; ++c) {
    const __m256i w0 = w.q[2 * c], w1 = w.q[2 * c + 1];
#pragma GCC unroll 4
    for (int t = 0; t < T; ++t) {
      const __m256i xb = broadcast_u32(q[t] + 4 * c);
      if constexpr (kBits == QuantBits::k8) {
        p[t][0] = _mm256_add_epi16(p[t][0],
                                   _mm256_maddubs_epi16(w0, _mm256_sign_epi8(xb, w.sign[2 * c])));
        p[t][1] = _mm256_add_epi16(
            p[t][1], _mm256_maddubs_epi16(w1, _mm256_sign_epi8(xb, w.sign[2 * c + 1])));
      } else {
        p[t][0] = _mm256_add_epi16(p[t][0], _mm256_maddubs_epi16(w0, xb));
        p[t][1] = _mm256_add_epi16(p[t][1], _mm256_maddubs_epi16(w1, xb));
      }
      keep_in_register(p[t][0]);
      keep_in_register(p[t][1]);
    }
  }
}

// Calls tile(std::integral_constant<int, T>(), t) for tokens [t, t + T) of [0, n) in tiles of
// kTileTokens, then smaller ones for the rest.
template <int T, typename Tile>
inline void for_each_token_tile(int64_t n, const Tile& tile, int64_t t = 0) {
  for (; t + T <= n; t += T) tile(std::integral_constant<int, T>(), t);
  if constexpr (T > 1) for_each_token_tile<T - 1>(n, tile, t);
}

// Float accumulators of one panel (16 rows) for the tokens of a pass, in L1.
struct PanelAccumulators {
  alignas(32) float acc[kTokenChunk][kQuantPanelRows];

  explicit PanelAccumulators(int64_t n) { std::memset(acc, 0, n * sizeof acc[0]); }
  // Token t's rows [lo, hi) to out[lo..hi).
  void store(int64_t t, int64_t lo, int64_t hi, float* out) const {
    if (lo == 0 && hi == kQuantPanelRows) {
      _mm256_storeu_ps(out, _mm256_load_ps(acc[t]));
      _mm256_storeu_ps(out + 8, _mm256_load_ps(acc[t] + 8));
    } else {
      std::copy(acc[t] + lo, acc[t] + hi, out + lo);
    }
  }
};

// Calls panel(p, lo, hi, t0, n) for each pass of up to kTokenChunk tokens [t0, t0 + n) and each
// panel p of rows [row_begin, row_end), whose rows [lo, hi) are in the range.
template <typename Panel>
void for_each_panel(int64_t row_begin, int64_t row_end, int64_t n_tokens, const Panel& panel) {
  const int64_t first = row_begin / kQuantPanelRows;
  const int64_t last = (row_end + kQuantPanelRows - 1) / kQuantPanelRows;
  for (int64_t t0 = 0; t0 < n_tokens; t0 += kTokenChunk) {
    const int64_t n = std::min(kTokenChunk, n_tokens - t0);
    for (int64_t p = first; p < last; ++p) {
      const int64_t lo = std::max<int64_t>(row_begin - p * kQuantPanelRows, 0);
      const int64_t hi = std::min<int64_t>(row_end - p * kQuantPanelRows, kQuantPanelRows);
      panel(p, lo, hi, t0, n);
    }
  }
}

}  // namespace shardserve::kernels::avx2
