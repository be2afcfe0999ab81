// Element c of a weight row in each GGUF format, as f32 (device code, the layouts of
// model/kernels/cpu/quant_internal.h): the values of the CPU scalar reference (quant_ref.cc,
// quant_ref_k.cc) bit for bit, the same float operations in the same order, never fused.
// Used by dequantize.cu; a header of its own so that model/cuda/quant_gemv_emulated_test.cc can
// compile it as host code (with SS_DEQUANTIZE_EMULATED defined, the includer provides
// __fmul_rn, __fadd_rn, __fsub_rn and __uint_as_float).
#pragma once

#include <cuda_fp16.h>

#include <cstdint>

#include "model/tensor_type.h"

namespace shardserve::gpu::dequantize_elements {

inline constexpr int kQK = 32;    // elements per legacy quant block
inline constexpr int kQKK = 256;  // elements per K-quant super-block

__device__ inline uint32_t load_u16(const uint8_t* p) {
  return static_cast<uint32_t>(p[0]) | (static_cast<uint32_t>(p[1]) << 8);
}
__device__ inline uint32_t load_u32(const uint8_t* p) {
  return load_u16(p) | (load_u16(p + 2) << 16);
}
__device__ inline float f16_bits_to_float(uint32_t h) {
  return __half2float(__ushort_as_half(static_cast<unsigned short>(h)));
}

// Element c of a row in each format (the layouts of model/kernels/cpu/quant_internal.h).
template <DType T>
__device__ float element(const uint8_t* row, int64_t c);

template <>
__device__ float element<DType::F32>(const uint8_t* row, int64_t c) {
  return __uint_as_float(load_u32(row + 4 * c));
}
template <>
__device__ float element<DType::F16>(const uint8_t* row, int64_t c) {
  return f16_bits_to_float(load_u16(row + 2 * c));
}
template <>
__device__ float element<DType::BF16>(const uint8_t* row, int64_t c) {
  return __uint_as_float(load_u16(row + 2 * c) << 16);
}
// Q4_0: {f16 d; u8 qs[16]}: x[j] = (lo nibble of qs[j] - 8) * d, x[j + 16] = (hi nibble - 8) * d.
template <>
__device__ float element<DType::Q4_0>(const uint8_t* row, int64_t c) {
  const uint8_t* b = row + (c / kQK) * 18;
  const int j = static_cast<int>(c % kQK);
  const int q = j < 16 ? (b[2 + j] & 0xf) : (b[2 + j - 16] >> 4);
  return __fmul_rn(static_cast<float>(q - 8), f16_bits_to_float(load_u16(b)));
}
// Q4_1: {f16 d, m; u8 qs[16]}: x = q * d + m (two roundings, as the CPU reference).
template <>
__device__ float element<DType::Q4_1>(const uint8_t* row, int64_t c) {
  const uint8_t* b = row + (c / kQK) * 20;
  const int j = static_cast<int>(c % kQK);
  const int q = j < 16 ? (b[4 + j] & 0xf) : (b[4 + j - 16] >> 4);
  return __fadd_rn(__fmul_rn(static_cast<float>(q), f16_bits_to_float(load_u16(b))),
                   f16_bits_to_float(load_u16(b + 2)));
}
// Q5_0: {f16 d; u8 qh[4]; u8 qs[16]}: 5th bit j of the little-endian qh; x = (q - 16) * d.
template <>
__device__ float element<DType::Q5_0>(const uint8_t* row, int64_t c) {
  const uint8_t* b = row + (c / kQK) * 22;
  const int j = static_cast<int>(c % kQK);
  const uint32_t qh = load_u32(b + 2);
  const int lo = j < 16 ? (b[6 + j] & 0xf) : (b[6 + j - 16] >> 4);
  const int q = lo | static_cast<int>(((qh >> j) & 1u) << 4);
  return __fmul_rn(static_cast<float>(q - 16), f16_bits_to_float(load_u16(b)));
}
// Q5_1: {f16 d, m; u8 qh[4]; u8 qs[16]}: x = q * d + m.
template <>
__device__ float element<DType::Q5_1>(const uint8_t* row, int64_t c) {
  const uint8_t* b = row + (c / kQK) * 24;
  const int j = static_cast<int>(c % kQK);
  const uint32_t qh = load_u32(b + 4);
  const int lo = j < 16 ? (b[8 + j] & 0xf) : (b[8 + j - 16] >> 4);
  const int q = lo | static_cast<int>(((qh >> j) & 1u) << 4);
  return __fadd_rn(__fmul_rn(static_cast<float>(q), f16_bits_to_float(load_u16(b))),
                   f16_bits_to_float(load_u16(b + 2)));
}
// Q8_0: {f16 d; i8 qs[32]}: x = q * d.
template <>
__device__ float element<DType::Q8_0>(const uint8_t* row, int64_t c) {
  const uint8_t* b = row + (c / kQK) * 34;
  const int q = static_cast<int8_t>(b[2 + c % kQK]);
  return __fmul_rn(static_cast<float>(q), f16_bits_to_float(load_u16(b)));
}

// Q2_K: {u8 scales[16]; u8 qs[64]; f16 d, dmin}: x = (d * sc) * q - dmin * m per 16 elements.
template <>
__device__ float element<DType::Q2_K>(const uint8_t* row, int64_t c) {
  const uint8_t* b = row + (c / kQKK) * 84;
  const int k = static_cast<int>(c % kQKK), h = k / 128, r = k % 128;
  const int q = (b[16 + 32 * h + r % 32] >> (2 * (r / 32))) & 3;
  const uint8_t sc = b[k / 16];
  const float dl = __fmul_rn(f16_bits_to_float(load_u16(b + 80)), static_cast<float>(sc & 0xf));
  const float ml = __fmul_rn(f16_bits_to_float(load_u16(b + 82)), static_cast<float>(sc >> 4));
  return __fsub_rn(__fmul_rn(dl, static_cast<float>(q)), ml);
}
// Q3_K: {u8 hmask[32]; u8 qs[64]; u8 scales[12]; f16 d}: x = (d * sc) * q, q in [-4, 3].
template <>
__device__ float element<DType::Q3_K>(const uint8_t* row, int64_t c) {
  const uint8_t* b = row + (c / kQKK) * 110;
  const int k = static_cast<int>(c % kQKK), h = k / 128, r = k % 128, g = k / 16;
  const int low = (b[32 + 32 * h + r % 32] >> (2 * (r / 32))) & 3;
  const int high = (b[r % 32] >> (4 * h + r / 32)) & 1;
  const uint8_t* sc = b + 96;
  const int scale =
      ((g < 8 ? sc[g] & 0xf : sc[g - 8] >> 4) | (((sc[8 + g % 4] >> (2 * (g / 4))) & 3) << 4)) - 32;
  const float dl = __fmul_rn(f16_bits_to_float(load_u16(b + 108)), static_cast<float>(scale));
  return __fmul_rn(dl, static_cast<float>(low - (high ? 0 : 4)));
}
// 6-bit scale and min of sub-block j of a Q4_K / Q5_K super-block.
__device__ inline void k_scale_min(const uint8_t* q, int j, int* sc, int* mn) {
  if (j < 4) {
    *sc = q[j] & 63;
    *mn = q[j + 4] & 63;
  } else {
    *sc = (q[j + 4] & 0xf) | ((q[j - 4] >> 6) << 4);
    *mn = (q[j + 4] >> 4) | ((q[j] >> 6) << 4);
  }
}
// Q4_K / Q5_K: x = (d * sc) * q - dmin * m per 32 elements, given the quant q.
__device__ inline float k_value(const uint8_t* b, int j, int q) {
  int sc, mn;
  k_scale_min(b + 4, j, &sc, &mn);
  const float d1 = __fmul_rn(f16_bits_to_float(load_u16(b)), static_cast<float>(sc));
  const float m1 = __fmul_rn(f16_bits_to_float(load_u16(b + 2)), static_cast<float>(mn));
  return __fsub_rn(__fmul_rn(d1, static_cast<float>(q)), m1);
}
// Q4_K: {f16 d, dmin; u8 scales[12]; u8 qs[128]}: sub-block j's element l in qs[32 (j / 2) + l],
// the low nibble for even j.
template <>
__device__ float element<DType::Q4_K>(const uint8_t* row, int64_t c) {
  const uint8_t* b = row + (c / kQKK) * 144;
  const int k = static_cast<int>(c % kQKK), j = k / 32, l = k % 32;
  const uint8_t byte = b[16 + 32 * (j / 2) + l];
  return k_value(b, j, (j & 1) ? byte >> 4 : byte & 0xf);
}
// Q5_K: {f16 d, dmin; u8 scales[12]; u8 qh[32]; u8 qs[128]}: the 5th bit is bit j of qh[l].
template <>
__device__ float element<DType::Q5_K>(const uint8_t* row, int64_t c) {
  const uint8_t* b = row + (c / kQKK) * 176;
  const int k = static_cast<int>(c % kQKK), j = k / 32, l = k % 32;
  const uint8_t byte = b[48 + 32 * (j / 2) + l];
  const int q = ((j & 1) ? byte >> 4 : byte & 0xf) | (((b[16 + l] >> j) & 1) << 4);
  return k_value(b, j, q);
}
// Q6_K: {u8 ql[128]; u8 qh[64]; i8 scales[16]; f16 d}: x = (d * sc) * (q - 32).
template <>
__device__ float element<DType::Q6_K>(const uint8_t* row, int64_t c) {
  const uint8_t* b = row + (c / kQKK) * 210;
  const int k = static_cast<int>(c % kQKK), h = k / 128, r = k % 128, t = r / 32, l = r % 32;
  const uint8_t lo = b[64 * h + l + 32 * (t & 1)];
  const int q = (t < 2 ? lo & 0xf : lo >> 4) | (((b[128 + 32 * h + l] >> (2 * t)) & 3) << 4);
  const float dl = __fmul_rn(f16_bits_to_float(load_u16(b + 208)),
                             static_cast<float>(static_cast<int8_t>(b[192 + k / 16])));
  return __fmul_rn(dl, static_cast<float>(q - 32));
}

}  // namespace shardserve::gpu::dequantize_elements
