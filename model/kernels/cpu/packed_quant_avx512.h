// Shared by the AVX-512 packed quant kernels (packed_quant_avx512.cc, packed_kquant_avx512.cc);
// include only from files built with the AVX-512 flags, after checking the macros below.
#pragma once

#include <immintrin.h>

#include <algorithm>
#include <cstdint>
#include <cstring>

#include "model/kernels/cpu/packed_quant.h"

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
