// Internal to the CPU quant kernels (not for use outside model/kernels/cpu): the GGUF block
// structs, the summation order shared by references and SIMD dots (LaneSum8), inline scalar
// f16/bf16 conversions, element and scale accessors, and the per-ISA kernel tables.
//
// Block layouts are byte-exact copies of ggml's (see model/tensor_type.h for sizes); all
// fields are little-endian, as in GGUF files. Structs are only ever accessed through
// pointers into unaligned byte buffers, so every member has alignment <= 2 except Q8_K's
// float, which ggml also declares (row pointers for Q8_K are 4-byte aligned in practice;
// kernels read it with memcpy so no alignment is ever needed).
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>

#include "model/kernels/cpu/quant.h"

namespace shardserve::kernels {

inline constexpr int kQK = 32;    // legacy quant block
inline constexpr int kQKK = 256;  // K-quant super-block
inline constexpr int kKScaleBytes = 12;

struct BlockQ4_0 {
  uint16_t d;           // fp16 scale
  uint8_t qs[kQK / 2];  // x[j] = (lo nibble of qs[j]) - 8, x[j+16] = (hi nibble) - 8
};
struct BlockQ4_1 {
  uint16_t d, m;        // fp16 scale and min: x = q * d + m
  uint8_t qs[kQK / 2];  // nibbles as in Q4_0, unsigned
};
struct BlockQ5_0 {
  uint16_t d;
  uint8_t qh[4];        // bit j of the little-endian u32 = 5th bit of element j
  uint8_t qs[kQK / 2];  // low 4 bits as in Q4_0; x = q - 16
};
struct BlockQ5_1 {
  uint16_t d, m;
  uint8_t qh[4];
  uint8_t qs[kQK / 2];  // x = q * d + m
};
struct BlockQ8_0 {
  uint16_t d;
  int8_t qs[kQK];
};
struct BlockQ8_1 {
  uint16_t d;  // fp16 scale
  uint16_t s;  // fp16 of d * sum(qs), d taken before its fp16 rounding
  int8_t qs[kQK];
};
struct BlockQ2_K {
  uint8_t scales[kQKK / 16];  // per 16 elements: scale in the low nibble, min in the high one
  uint8_t qs[kQKK / 4];       // 2-bit quants (see q2k_quant)
  uint16_t d, dmin;           // super-block scales: x = d * scale * q - dmin * min
};
struct BlockQ3_K {
  uint8_t hmask[kQKK / 8];  // high bits (see q3k_quant)
  uint8_t qs[kQKK / 4];     // low 2 bits, laid out as Q2_K's
  uint8_t scales[12];       // 16 6-bit scales, stored + 32 (see q3k_scale)
  uint16_t d;               // super-block scale: x = d * scale * q, q in [-4, 3]
};
struct BlockQ4_K {
  uint16_t d, dmin;              // super-block scales for the 6-bit scales and mins
  uint8_t scales[kKScaleBytes];  // 8 (scale, min) pairs, 6 bits each
  uint8_t qs[kQKK / 2];          // per 64 elements: 32 bytes, lo nibbles then hi nibbles
};
struct BlockQ5_K {
  uint16_t d, dmin;
  uint8_t scales[kKScaleBytes];
  uint8_t qh[kQKK / 8];  // 5th bits: bit 2k / 2k+1 of qh[l] for sub-blocks 2k / 2k+1
  uint8_t qs[kQKK / 2];
};
struct BlockQ6_K {
  uint8_t ql[kQKK / 2];  // low 4 bits
  uint8_t qh[kQKK / 4];  // high 2 bits
  int8_t scales[kQKK / 16];
  uint16_t d;
};
struct BlockQ8_K {
  float d;
  int8_t qs[kQKK];
  int16_t bsums[kQKK / 16];  // sums of each 16 quants
};

static_assert(sizeof(BlockQ4_0) == 18 && sizeof(BlockQ4_1) == 20 && sizeof(BlockQ5_0) == 22 &&
              sizeof(BlockQ5_1) == 24 && sizeof(BlockQ8_0) == 34 && sizeof(BlockQ8_1) == 36 &&
              sizeof(BlockQ2_K) == 84 && sizeof(BlockQ3_K) == 110 && sizeof(BlockQ4_K) == 144 &&
              sizeof(BlockQ5_K) == 176 && sizeof(BlockQ6_K) == 210 && sizeof(BlockQ8_K) == 292);

// Summation order of the Q4_1, Q8_0 and Q3_K dots, shared with the SIMD kernels, which give the
// same bits: eight float lanes, lane j taking the integer dot of elements 4j..4j+3 of each
// block, scaled by the block's dw * dx and accumulated block after block with one fused
// multiply-add, then folded pairwise (j, j+4), (j, j+2), (0, 1). This is the order of ggml's
// x86 kernels (ggml_vec_dot_q4_1_q8_1, ggml_vec_dot_q8_0_q8_0, ggml_vec_dot_q3_K_q8_K and
// llamafile's tinyBLAS for Q8_0), so that our logits agree with llama.cpp's to the last bit where
// the inputs do and greedy decoding takes the same branch at near-ties.
struct LaneSum8 {
  float lane[8] = {};
  void add(float d, const int* dots) {
    for (int j = 0; j < 8; ++j) lane[j] = std::fma(d, static_cast<float>(dots[j]), lane[j]);
  }
  float total() const {
    float h[4], q[2];
    for (int j = 0; j < 4; ++j) h[j] = lane[j] + lane[j + 4];
    for (int j = 0; j < 2; ++j) q[j] = h[j] + h[j + 2];
    return q[0] + q[1];
  }
};

// --- scalar conversions (exact IEEE round-to-nearest-even; NaNs stay NaN and become quiet,
// keeping the top payload bits, like the F16C instructions) ---

inline uint32_t f32_bits(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  return u;
}
inline float bits_f32(uint32_t u) {
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

inline float fp16_to_fp32(uint16_t h) {
  const uint32_t sign = static_cast<uint32_t>(h & 0x8000) << 16;
  const uint32_t e = (h >> 10) & 0x1f;
  const uint32_t m = h & 0x3ff;
  if (e == 0x1f) return bits_f32(sign | 0x7f800000 | (m << 13) | (m != 0 ? 0x400000 : 0));
  if (e == 0) return bits_f32(sign | f32_bits(static_cast<float>(m) * 0x1p-24f));  // exact
  return bits_f32(sign | ((e + 112) << 23) | (m << 13));
}

inline uint16_t fp32_to_fp16(float f) {
  const uint32_t x = f32_bits(f);
  const uint32_t sign = (x >> 16) & 0x8000;
  uint32_t ax = x & 0x7fffffff;
  if (ax > 0x7f800000) return static_cast<uint16_t>(sign | 0x7e00 | ((ax >> 13) & 0x3ff));
  if (ax >= 0x477ff000) return static_cast<uint16_t>(sign | 0x7c00);  // >= 65520 rounds to inf
  if (ax >= 0x38800000) {                                             // normal f16
    ax += 0xc8000fffu + ((ax >> 13) & 1);  // rebias exponent by -112, round half to even
    return static_cast<uint16_t>(sign | (ax >> 13));
  }
  if (ax < 0x33000000) return static_cast<uint16_t>(sign);  // <= 2^-25 rounds to zero
  // Subnormal f16: count units of 2^-24, rounding half to even.
  const uint32_t exp = ax >> 23;  // 102 .. 112
  const uint32_t mant = (ax & 0x7fffff) | 0x800000;
  const uint32_t shift = 126 - exp;  // 14 .. 24
  uint32_t q = mant >> shift;
  const uint32_t rem = mant & ((1u << shift) - 1);
  const uint32_t half = 1u << (shift - 1);
  if (rem > half || (rem == half && (q & 1))) ++q;
  return static_cast<uint16_t>(sign | q);
}

inline float bf16_to_fp32(uint16_t h) {
  return bits_f32(static_cast<uint32_t>(h) << 16);
}

inline uint16_t fp32_to_bf16(float f) {
  const uint32_t x = f32_bits(f);
  if ((x & 0x7fffffff) > 0x7f800000) return static_cast<uint16_t>((x >> 16) | 0x40);  // quiet
  return static_cast<uint16_t>((x + 0x7fff + ((x >> 16) & 1)) >> 16);
}

// Round to nearest, ties to even, for |v| < 2^22 (what _mm*_round_ps(v, NEAREST) and
// cvtps2dq do under the default MXCSR). Integer bit tricks, so no UB for any input.
inline int round_even(float v) {
  const float biased = v + 12582912.f;  // 1.5 * 2^23
  return static_cast<int>(f32_bits(biased) & 0x007fffff) - 0x00400000;
}

// 6-bit scale and min of sub-block j (0..7) of a Q4_K / Q5_K super-block.
inline void k_scale_min(int j, const uint8_t* q, uint8_t* sc, uint8_t* mn) {
  if (j < 4) {
    *sc = q[j] & 63;
    *mn = q[j + 4] & 63;
  } else {
    *sc = static_cast<uint8_t>((q[j + 4] & 0xf) | ((q[j - 4] >> 6) << 4));
    *mn = static_cast<uint8_t>((q[j + 4] >> 4) | ((q[j] >> 6) << 4));
  }
}

// Quant l (0..31) of sub-block j (0..7) of a Q4_K super-block: byte qs[32 * (j / 2) + l], low
// nibble for even j, high for odd.
inline int q4k_quant(const uint8_t* qs, int j, int l) {
  const uint8_t byte = qs[32 * (j / 2) + l];
  return (j & 1) ? byte >> 4 : byte & 0xf;
}
// The same for Q5_K, whose 5th bit of element l of sub-block j is bit j of qh[l].
inline int q5k_quant(const uint8_t* qs, const uint8_t* qh, int j, int l) {
  return q4k_quant(qs, j, l) | (((qh[l] >> j) & 1) << 4);
}
// Unsigned quant (0..63) of element k (0..255) of a Q6_K super-block; the value is
// d * scales[k / 16] * (quant - 32). Element k: half h = k / 128, r = k % 128, quarter
// t = r / 32, l = r % 32. Low bits: byte ql[64h + l + 32 (t & 1)], low nibble for t < 2, high for
// t >= 2; high bits: (qh[32h + l] >> 2t) & 3.
inline int q6k_quant(const BlockQ6_K& b, int k) {
  const int h = k / 128, r = k % 128, t = r / 32, l = r % 32;
  const uint8_t lo = b.ql[64 * h + l + 32 * (t & 1)];
  const int low = t < 2 ? (lo & 0xf) : (lo >> 4);
  const int high = (b.qh[32 * h + l] >> (2 * t)) & 3;
  return low | (high << 4);
}

// Low 2 bits (0..3) of element k (0..255) of a Q2_K / Q3_K super-block: half h = k / 128,
// r = k % 128, quarter t = r / 32, l = r % 32; bits 2t, 2t+1 of qs[32h + l]. Sub-block k / 16 has
// the element's scale.
inline int q2k_quant(const uint8_t* qs, int k) {
  const int h = k / 128, r = k % 128;
  return (qs[32 * h + r % 32] >> (2 * (r / 32))) & 3;
}
// Signed quant (-4..3) of element k of a Q3_K super-block: the low bits as in Q2_K, minus 4
// where bit 4h + t of hmask[l] is clear.
inline int q3k_quant(const BlockQ3_K& b, int k) {
  const int h = k / 128, r = k % 128;
  const int high = (b.hmask[r % 32] >> (4 * h + r / 32)) & 1;
  return q2k_quant(b.qs, k) - (high ? 0 : 4);
}
// Scale (-32..31) of sub-block j (0..15) of a Q3_K super-block: 4 low bits from the nibbles of
// scales[0..7] (low nibbles for j < 8), 2 high bits from scales[8 + j % 4] at bit 2 (j / 4).
inline int q3k_scale(const uint8_t* scales, int j) {
  const int low = j < 8 ? scales[j] & 0xf : scales[j - 8] >> 4;
  const int high = (scales[8 + j % 4] >> (2 * (j / 4))) & 3;
  return (low | (high << 4)) - 32;
}

// Per-ISA overrides: the kernels a SIMD level implements for `type`, or null members (and
// null for a build or CPU architecture without that level). kernels_for() layers them over
// the next lower level.
const TypeKernels* avx2_kernels(DType type);
const TypeKernels* avx512_kernels(DType type);

}  // namespace shardserve::kernels
