// Internal to the packed quant kernels: where each quant of a panel's 32-column block sits (the
// "quant tile" of packed_quant.h), shared by the packers, the scalar references and the SIMD
// kernels of both families (32-column types and K-quants' sub-blocks).
//
// A quant tile holds 16 rows x 32 columns of unsigned quants of 4, 5, 6 or 8 bits:
//   4..6 bits: 4 chunks of 64 bytes of nibbles; chunk c, byte 4r + k: low nibble = the low 4 bits
//              of row r's quant of column 4c + k, high nibble = of column 16 + 4c + k; then
//              5 bits: 64 bytes, bit c of byte 4r + k = bit 4 of column 4c + k's quant (c = 0..7);
//              6 bits: 2 x 64 bytes, plane h, bits 2i..2i+1 of byte 4r + k = bits 4..5 of column
//              4(4h + i) + k's quant;
//   8 bits:    8 chunks of 64 bytes; chunk c, bytes 4r..4r+3 = row r's quants of columns 4c..4c+3.
// So a kernel that loads chunk c (and the high bits' place) has the 16 rows x 4 columns 4c..4c+3
// that one vpdpbusd multiplies by 4 quants of a token.
#pragma once

#include <cstddef>
#include <cstdint>

namespace shardserve::kernels::internal {

enum class QuantBits { k4 = 4, k5 = 5, k6 = 6, k8 = 8 };

inline constexpr size_t kQuantChunkBytes = 64;
inline constexpr size_t kNibbleBytes = 4 * kQuantChunkBytes;

constexpr size_t quant_tile_bytes(QuantBits bits) {
  switch (bits) {
    case QuantBits::k4:
      return kNibbleBytes;
    case QuantBits::k5:
      return kNibbleBytes + kQuantChunkBytes;
    case QuantBits::k6:
      return kNibbleBytes + 2 * kQuantChunkBytes;
    case QuantBits::k8:
      return 8 * kQuantChunkBytes;
  }
  return 0;
}

// Row `lane`'s quant of column k (0..31) in the tile at `tile`.
inline int get_tile_quant(QuantBits bits, const uint8_t* tile, int64_t lane, int k) {
  const int c = k / 4, i = k % 4;
  const size_t slot = 4 * static_cast<size_t>(lane) + i;
  if (bits == QuantBits::k8) return tile[c * kQuantChunkBytes + slot];
  int q = (tile[(c % 4) * kQuantChunkBytes + slot] >> (c < 4 ? 0 : 4)) & 0xf;
  if (bits == QuantBits::k5) q |= ((tile[kNibbleBytes + slot] >> c) & 1) << 4;
  if (bits == QuantBits::k6)
    q |= ((tile[kNibbleBytes + (c / 4) * kQuantChunkBytes + slot] >> (2 * (c % 4))) & 3) << 4;
  return q;
}

// Stores q (of `bits` bits) as row `lane`'s quant of column k in a zero-initialised tile.
inline void put_tile_quant(QuantBits bits, uint8_t* tile, int64_t lane, int k, int q) {
  const int c = k / 4, i = k % 4;
  const size_t slot = 4 * static_cast<size_t>(lane) + i;
  if (bits == QuantBits::k8) {
    tile[c * kQuantChunkBytes + slot] = static_cast<uint8_t>(q);
    return;
  }
  tile[(c % 4) * kQuantChunkBytes + slot] |= static_cast<uint8_t>((q & 0xf) << (c < 4 ? 0 : 4));
  if (bits == QuantBits::k5) tile[kNibbleBytes + slot] |= static_cast<uint8_t>(((q >> 4) & 1) << c);
  if (bits == QuantBits::k6)
    tile[kNibbleBytes + (c / 4) * kQuantChunkBytes + slot] |=
        static_cast<uint8_t>(((q >> 4) & 3) << (2 * (c % 4)));
}

}  // namespace shardserve::kernels::internal
