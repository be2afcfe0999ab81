// Shared by the AVX-512 packed quant kernels (packed_quant_avx512.cc, packed_kquant_avx512.cc);
// include only from files built with the AVX-512 flags, after checking the macros below.
#pragma once

#include <immintrin.h>

#include <algorithm>
#include <cstdint>
#include <cstring>

#include "model/kernels/cpu/packed_quant.h"
#include "model/kernels/cpu/packed_quant_layout.h"

namespace shardserve::kernels::avx512 {

// Tokens per tile: 8 accumulators (and 8 integer sums) beside 8 decoded quant vectors.
inline constexpr int kTileTokens = 8;
// Tokens per pass over a row range: their activations (up to ~110 KB for 1536 columns) stay in
// L2 while every panel of the range is applied to them.
inline constexpr int64_t kTokenChunk = 64;

// Rows [row_begin, row_end) of panel p as a lane mask.
inline __mmask16 rows_mask(int64_t p, int64_t row_begin, int64_t row_end) {
  const int64_t lo = std::max<int64_t>(row_begin - p * kQuantPanelRows, 0);
  const int64_t hi = std::min<int64_t>(row_end - p * kQuantPanelRows, kQuantPanelRows);
  return static_cast<__mmask16>(((1u << hi) - 1) & ~((1u << lo) - 1));
}

// 4 bytes (4 quants, or 2 int16) at p, in every 32-bit lane.
inline __m512i broadcast_u32(const void* p) {
  int32_t v;
  std::memcpy(&v, p, sizeof v);
  return _mm512_set1_epi32(v);
}

// w[c] = the 16 rows' quants of columns 4c..4c+3 of the quant tile at `tile` (unsigned bytes).
template <internal::QuantBits kBits>
inline void decode_tile(const uint8_t* tile, __m512i w[8]) {
  if constexpr (kBits == internal::QuantBits::k8) {
#pragma GCC unroll 8
    for (int c = 0; c < 8; ++c) w[c] = _mm512_load_si512(tile + 64 * c);
    return;
  }
  const __m512i low_nibbles = _mm512_set1_epi8(0x0f);
#pragma GCC unroll 4
  for (int c = 0; c < 4; ++c) {
    const __m512i raw = _mm512_load_si512(tile + 64 * c);
    w[c] = _mm512_and_si512(raw, low_nibbles);
    w[c + 4] = _mm512_and_si512(_mm512_srli_epi16(raw, 4), low_nibbles);
  }
  // w | (shifted & bits): ternary logic 0xF8 = A | (B & C). Shifts by 16-bit lanes move each
  // byte's bits within the byte, and the mask drops what crosses into the next.
  if constexpr (kBits == internal::QuantBits::k5) {
    const __m512i high = _mm512_load_si512(tile + internal::kNibbleBytes),
                  bit4 = _mm512_set1_epi8(0x10);
    w[0] = _mm512_ternarylogic_epi32(w[0], _mm512_slli_epi16(high, 4), bit4, 0xF8);
    w[1] = _mm512_ternarylogic_epi32(w[1], _mm512_slli_epi16(high, 3), bit4, 0xF8);
    w[2] = _mm512_ternarylogic_epi32(w[2], _mm512_slli_epi16(high, 2), bit4, 0xF8);
    w[3] = _mm512_ternarylogic_epi32(w[3], _mm512_slli_epi16(high, 1), bit4, 0xF8);
    w[4] = _mm512_ternarylogic_epi32(w[4], high, bit4, 0xF8);
    w[5] = _mm512_ternarylogic_epi32(w[5], _mm512_srli_epi16(high, 1), bit4, 0xF8);
    w[6] = _mm512_ternarylogic_epi32(w[6], _mm512_srli_epi16(high, 2), bit4, 0xF8);
    w[7] = _mm512_ternarylogic_epi32(w[7], _mm512_srli_epi16(high, 3), bit4, 0xF8);
  }
  if constexpr (kBits == internal::QuantBits::k6) {
    const __m512i bits45 = _mm512_set1_epi8(0x30);
#pragma GCC unroll 2
    for (int h = 0; h < 2; ++h) {
      const __m512i high = _mm512_load_si512(tile + internal::kNibbleBytes + 64 * h);
      w[4 * h] = _mm512_ternarylogic_epi32(w[4 * h], _mm512_slli_epi16(high, 4), bits45, 0xF8);
      w[4 * h + 1] =
          _mm512_ternarylogic_epi32(w[4 * h + 1], _mm512_slli_epi16(high, 2), bits45, 0xF8);
      w[4 * h + 2] = _mm512_ternarylogic_epi32(w[4 * h + 2], high, bits45, 0xF8);
      w[4 * h + 3] =
          _mm512_ternarylogic_epi32(w[4 * h + 3], _mm512_srli_epi16(high, 2), bits45, 0xF8);
    }
  }
}

// Runs tile(panel record pointer, mask, out + first row of the panel, t0, n) over the panels of
// rows [row_begin, row_end) and the tokens in tiles of up to kTileTokens, kTokenChunk tokens
// per pass.
template <typename Tile>
void for_each_tile(const uint8_t* panels, size_t panel_bytes, int64_t row_begin, int64_t row_end,
                   int64_t n_tokens, float* out, const Tile& tile) {
  const int64_t first = row_begin / kQuantPanelRows;
  const int64_t last = (row_end + kQuantPanelRows - 1) / kQuantPanelRows;
  for (int64_t c0 = 0; c0 < n_tokens; c0 += kTokenChunk) {
    const int64_t c1 = std::min(n_tokens, c0 + kTokenChunk);
    for (int64_t p = first; p < last; ++p) {
      const uint8_t* rec = panels + static_cast<size_t>(p) * panel_bytes;
      const __mmask16 mask = rows_mask(p, row_begin, row_end);
      for (int64_t t = c0; t < c1; t += kTileTokens)
        tile(rec, mask, out + p * kQuantPanelRows, t, std::min<int64_t>(kTileTokens, c1 - t));
    }
  }
}

}  // namespace shardserve::kernels::avx512
