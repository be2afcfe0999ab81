// Scalar reference kernels for the float types and the 32-element ("legacy") quants, and the
// ref::kernels_for() table. Arithmetic follows ggml's reference code (quantize_row_*_ref,
// dequantize_row_*, ggml_vec_dot_*_generic), with Q8_0 / Q8_1 quantization as ggml's x86
// SIMD path does it (round half to even); these are the oracle for the SIMD kernels.
#include <algorithm>
#include <cmath>

#include "base/check.h"
#include "model/kernels/cpu/quant_internal.h"

namespace shardserve::kernels {

float f16_to_f32(uint16_t h) {
  return fp16_to_fp32(h);
}
uint16_t f32_to_f16(float f) {
  return fp32_to_fp16(f);
}
float bf16_to_f32(uint16_t h) {
  return bf16_to_fp32(h);
}
uint16_t f32_to_bf16(float f) {
  return fp32_to_bf16(f);
}

const TypeKernels* ref_kquant_kernels(DType type);  // quant_ref_k.cc

namespace {

int64_t blocks(int64_t n, int64_t qk) {
  SS_CHECK(n % qk == 0, "row length is not a multiple of the block size");
  return n / qk;
}

// The legacy dots (Q4_0, Q4_1, Q5_0, Q5_1, Q8_0) sum in LaneSum8's order (quant_internal.h),
// ggml's x86 order: per block, eight lanes of four consecutive elements' integer products, each
// lane times the block's scale product fused into its accumulator; the lanes folded at the end.

// --- F32 / F16 / BF16 ---

void dequantize_f32(const void* src, float* dst, int64_t n) {
  std::memcpy(dst, src, static_cast<size_t>(n) * 4);
}
void quantize_f32(const float* src, void* dst, int64_t n) {
  std::memcpy(dst, src, static_cast<size_t>(n) * 4);
}
float dot_f32(const void* w, const void* x, int64_t n) {
  const float* a = static_cast<const float*>(w);
  const float* b = static_cast<const float*>(x);
  double sum = 0;
  for (int64_t i = 0; i < n; ++i) sum += static_cast<double>(a[i]) * b[i];
  return static_cast<float>(sum);
}

void dequantize_f16(const void* src, float* dst, int64_t n) {
  const uint16_t* h = static_cast<const uint16_t*>(src);
  for (int64_t i = 0; i < n; ++i) dst[i] = fp16_to_fp32(h[i]);
}
void quantize_f16(const float* src, void* dst, int64_t n) {
  uint16_t* h = static_cast<uint16_t*>(dst);
  for (int64_t i = 0; i < n; ++i) h[i] = fp32_to_fp16(src[i]);
}
float dot_f16(const void* w, const void* x, int64_t n) {
  const uint16_t* a = static_cast<const uint16_t*>(w);
  const uint16_t* b = static_cast<const uint16_t*>(x);
  double sum = 0;
  for (int64_t i = 0; i < n; ++i) {
    sum += static_cast<double>(fp16_to_fp32(a[i])) * fp16_to_fp32(b[i]);
  }
  return static_cast<float>(sum);
}

void dequantize_bf16(const void* src, float* dst, int64_t n) {
  const uint16_t* h = static_cast<const uint16_t*>(src);
  for (int64_t i = 0; i < n; ++i) dst[i] = bf16_to_fp32(h[i]);
}
void quantize_bf16(const float* src, void* dst, int64_t n) {
  uint16_t* h = static_cast<uint16_t*>(dst);
  for (int64_t i = 0; i < n; ++i) h[i] = fp32_to_bf16(src[i]);
}
float dot_bf16(const void* w, const void* x, int64_t n) {
  const uint16_t* a = static_cast<const uint16_t*>(w);
  const uint16_t* b = static_cast<const uint16_t*>(x);
  double sum = 0;
  for (int64_t i = 0; i < n; ++i) {
    sum += static_cast<double>(bf16_to_fp32(a[i])) * bf16_to_fp32(b[i]);
  }
  return static_cast<float>(sum);
}

// --- Q4_0: x = (q - 8) * d ---

void dequantize_q4_0(const void* src, float* dst, int64_t n) {
  const BlockQ4_0* b = static_cast<const BlockQ4_0*>(src);
  for (int64_t i = 0, nb = blocks(n, kQK); i < nb; ++i, dst += kQK) {
    const float d = fp16_to_fp32(b[i].d);
    for (int j = 0; j < kQK / 2; ++j) {
      dst[j] = static_cast<float>((b[i].qs[j] & 0xf) - 8) * d;
      dst[j + kQK / 2] = static_cast<float>((b[i].qs[j] >> 4) - 8) * d;
    }
  }
}
void quantize_q4_0(const float* src, void* dst, int64_t n) {
  BlockQ4_0* b = static_cast<BlockQ4_0*>(dst);
  for (int64_t i = 0, nb = blocks(n, kQK); i < nb; ++i, src += kQK) {
    float amax = 0, max = 0;  // max keeps the sign of the largest magnitude
    for (int j = 0; j < kQK; ++j) {
      if (std::fabs(src[j]) > amax) {
        amax = std::fabs(src[j]);
        max = src[j];
      }
    }
    const float d = max / -8;
    const float id = d != 0 ? 1.0f / d : 0.0f;
    b[i].d = fp32_to_fp16(d);
    for (int j = 0; j < kQK / 2; ++j) {
      const int q0 = std::min(15, static_cast<int>(static_cast<int8_t>(src[j] * id + 8.5f)));
      const int q1 =
          std::min(15, static_cast<int>(static_cast<int8_t>(src[j + kQK / 2] * id + 8.5f)));
      b[i].qs[j] = static_cast<uint8_t>(q0 | (q1 << 4));
    }
  }
}
float dot_q4_0(const void* w, const void* x, int64_t n) {
  const BlockQ4_0* a = static_cast<const BlockQ4_0*>(w);
  const BlockQ8_0* b = static_cast<const BlockQ8_0*>(x);
  LaneSum8 acc;
  for (int64_t i = 0, nb = blocks(n, kQK); i < nb; ++i) {
    int lanes[8];
    for (int j = 0; j < 8; ++j) {
      int s = 0;
      for (int k = 4 * j; k < 4 * j + 4; ++k) {
        const int q = k < kQK / 2 ? a[i].qs[k] & 0xf : a[i].qs[k - kQK / 2] >> 4;
        s += (q - 8) * b[i].qs[k];
      }
      lanes[j] = s;
    }
    acc.add(fp16_to_fp32(a[i].d) * fp16_to_fp32(b[i].d), lanes);
  }
  return acc.total();
}

// --- Q4_1: x = q * d + m ---

void dequantize_q4_1(const void* src, float* dst, int64_t n) {
  const BlockQ4_1* b = static_cast<const BlockQ4_1*>(src);
  for (int64_t i = 0, nb = blocks(n, kQK); i < nb; ++i, dst += kQK) {
    const float d = fp16_to_fp32(b[i].d), m = fp16_to_fp32(b[i].m);
    for (int j = 0; j < kQK / 2; ++j) {
      dst[j] = static_cast<float>(b[i].qs[j] & 0xf) * d + m;
      dst[j + kQK / 2] = static_cast<float>(b[i].qs[j] >> 4) * d + m;
    }
  }
}
void quantize_q4_1(const float* src, void* dst, int64_t n) {
  BlockQ4_1* b = static_cast<BlockQ4_1*>(dst);
  for (int64_t i = 0, nb = blocks(n, kQK); i < nb; ++i, src += kQK) {
    const auto [lo, hi] = std::minmax_element(src, src + kQK);
    const float min = *lo, d = (*hi - *lo) / 15;
    const float id = d != 0 ? 1.0f / d : 0.0f;
    b[i].d = fp32_to_fp16(d);
    b[i].m = fp32_to_fp16(min);
    for (int j = 0; j < kQK / 2; ++j) {
      const int q0 =
          std::min(15, static_cast<int>(static_cast<int8_t>((src[j] - min) * id + 0.5f)));
      const int q1 =
          std::min(15, static_cast<int>(static_cast<int8_t>((src[j + kQK / 2] - min) * id + 0.5f)));
      b[i].qs[j] = static_cast<uint8_t>(q0 | (q1 << 4));
    }
  }
}
float dot_q4_1(const void* w, const void* x, int64_t n) {
  const BlockQ4_1* a = static_cast<const BlockQ4_1*>(w);
  const BlockQ8_1* b = static_cast<const BlockQ8_1*>(x);
  LaneSum8 acc;
  float sum_m = 0;  // sum of m_w * s_x, one fused multiply-add per block, as ggml does
  for (int64_t i = 0, nb = blocks(n, kQK); i < nb; ++i) {
    int lanes[8];
    for (int j = 0; j < 8; ++j) {
      int s = 0;
      for (int k = 4 * j; k < 4 * j + 4; ++k) {
        const int q = k < kQK / 2 ? a[i].qs[k] & 0xf : a[i].qs[k - kQK / 2] >> 4;
        s += q * b[i].qs[k];
      }
      lanes[j] = s;
    }
    acc.add(fp16_to_fp32(a[i].d) * fp16_to_fp32(b[i].d), lanes);
    sum_m = std::fma(fp16_to_fp32(a[i].m), fp16_to_fp32(b[i].s), sum_m);
  }
  return acc.total() + sum_m;
}

// --- Q5_0: x = (q - 16) * d, 5th bits in qh ---

uint32_t load_qh(const uint8_t* qh) {
  uint32_t v;
  std::memcpy(&v, qh, 4);
  return v;
}

int q5_lo(const uint8_t* qs, uint32_t qh, int j) {  // element j < 16
  return (qs[j] & 0xf) | static_cast<int>(((qh >> j) << 4) & 0x10);
}
int q5_hi(const uint8_t* qs, uint32_t qh, int j) {  // element j + 16
  return (qs[j] >> 4) | static_cast<int>((qh >> (j + 12)) & 0x10);
}

void dequantize_q5_0(const void* src, float* dst, int64_t n) {
  const BlockQ5_0* b = static_cast<const BlockQ5_0*>(src);
  for (int64_t i = 0, nb = blocks(n, kQK); i < nb; ++i, dst += kQK) {
    const float d = fp16_to_fp32(b[i].d);
    const uint32_t qh = load_qh(b[i].qh);
    for (int j = 0; j < kQK / 2; ++j) {
      dst[j] = static_cast<float>(q5_lo(b[i].qs, qh, j) - 16) * d;
      dst[j + kQK / 2] = static_cast<float>(q5_hi(b[i].qs, qh, j) - 16) * d;
    }
  }
}
void quantize_q5_0(const float* src, void* dst, int64_t n) {
  BlockQ5_0* b = static_cast<BlockQ5_0*>(dst);
  for (int64_t i = 0, nb = blocks(n, kQK); i < nb; ++i, src += kQK) {
    float amax = 0, max = 0;
    for (int j = 0; j < kQK; ++j) {
      if (std::fabs(src[j]) > amax) {
        amax = std::fabs(src[j]);
        max = src[j];
      }
    }
    const float d = max / -16;
    const float id = d != 0 ? 1.0f / d : 0.0f;
    b[i].d = fp32_to_fp16(d);
    uint32_t qh = 0;
    for (int j = 0; j < kQK / 2; ++j) {
      const uint32_t q0 = static_cast<uint32_t>(
          std::min(31, static_cast<int>(static_cast<int8_t>(src[j] * id + 16.5f))));
      const uint32_t q1 = static_cast<uint32_t>(
          std::min(31, static_cast<int>(static_cast<int8_t>(src[j + kQK / 2] * id + 16.5f))));
      b[i].qs[j] = static_cast<uint8_t>((q0 & 0xf) | ((q1 & 0xf) << 4));
      qh |= ((q0 & 0x10) >> 4) << j;
      qh |= ((q1 & 0x10) >> 4) << (j + kQK / 2);
    }
    std::memcpy(b[i].qh, &qh, 4);
  }
}
float dot_q5_0(const void* w, const void* x, int64_t n) {
  const BlockQ5_0* a = static_cast<const BlockQ5_0*>(w);
  const BlockQ8_0* b = static_cast<const BlockQ8_0*>(x);
  LaneSum8 acc;
  for (int64_t i = 0, nb = blocks(n, kQK); i < nb; ++i) {
    const uint32_t qh = load_qh(a[i].qh);
    int lanes[8];
    for (int j = 0; j < 8; ++j) {
      int s = 0;
      for (int k = 4 * j; k < 4 * j + 4; ++k) {
        const int q = k < kQK / 2 ? q5_lo(a[i].qs, qh, k) : q5_hi(a[i].qs, qh, k - kQK / 2);
        s += (q - 16) * b[i].qs[k];
      }
      lanes[j] = s;
    }
    acc.add(fp16_to_fp32(a[i].d) * fp16_to_fp32(b[i].d), lanes);
  }
  return acc.total();
}

// --- Q5_1: x = q * d + m ---

void dequantize_q5_1(const void* src, float* dst, int64_t n) {
  const BlockQ5_1* b = static_cast<const BlockQ5_1*>(src);
  for (int64_t i = 0, nb = blocks(n, kQK); i < nb; ++i, dst += kQK) {
    const float d = fp16_to_fp32(b[i].d), m = fp16_to_fp32(b[i].m);
    const uint32_t qh = load_qh(b[i].qh);
    for (int j = 0; j < kQK / 2; ++j) {
      dst[j] = static_cast<float>(q5_lo(b[i].qs, qh, j)) * d + m;
      dst[j + kQK / 2] = static_cast<float>(q5_hi(b[i].qs, qh, j)) * d + m;
    }
  }
}
void quantize_q5_1(const float* src, void* dst, int64_t n) {
  BlockQ5_1* b = static_cast<BlockQ5_1*>(dst);
  for (int64_t i = 0, nb = blocks(n, kQK); i < nb; ++i, src += kQK) {
    const auto [lo, hi] = std::minmax_element(src, src + kQK);
    const float min = *lo, d = (*hi - *lo) / 31;
    const float id = d != 0 ? 1.0f / d : 0.0f;
    b[i].d = fp32_to_fp16(d);
    b[i].m = fp32_to_fp16(min);
    uint32_t qh = 0;
    for (int j = 0; j < kQK / 2; ++j) {
      const uint32_t q0 = static_cast<uint8_t>((src[j] - min) * id + 0.5f);
      const uint32_t q1 = static_cast<uint8_t>((src[j + kQK / 2] - min) * id + 0.5f);
      b[i].qs[j] = static_cast<uint8_t>((q0 & 0xf) | ((q1 & 0xf) << 4));
      qh |= ((q0 & 0x10) >> 4) << j;
      qh |= ((q1 & 0x10) >> 4) << (j + kQK / 2);
    }
    std::memcpy(b[i].qh, &qh, 4);
  }
}
float dot_q5_1(const void* w, const void* x, int64_t n) {
  const BlockQ5_1* a = static_cast<const BlockQ5_1*>(w);
  const BlockQ8_1* b = static_cast<const BlockQ8_1*>(x);
  LaneSum8 acc;
  float sum_m = 0;  // sum of m_w * s_x, one fused multiply-add per block, as ggml does
  for (int64_t i = 0, nb = blocks(n, kQK); i < nb; ++i) {
    const uint32_t qh = load_qh(a[i].qh);
    int lanes[8];
    for (int j = 0; j < 8; ++j) {
      int s = 0;
      for (int k = 4 * j; k < 4 * j + 4; ++k) {
        const int q = k < kQK / 2 ? q5_lo(a[i].qs, qh, k) : q5_hi(a[i].qs, qh, k - kQK / 2);
        s += q * b[i].qs[k];
      }
      lanes[j] = s;
    }
    acc.add(fp16_to_fp32(a[i].d) * fp16_to_fp32(b[i].d), lanes);
    sum_m = std::fma(fp16_to_fp32(a[i].m), fp16_to_fp32(b[i].s), sum_m);
  }
  return acc.total() + sum_m;
}

// --- Q8_0 / Q8_1: q = round_even(x * 127 / amax), as ggml's AVX quantizer ---

// Quantizes 32 floats; returns the float scale d (before fp16 rounding) and sum of q.
float quantize_block_q8(const float* src, int8_t* qs, int* sum_q) {
  float amax = 0;
  for (int j = 0; j < kQK; ++j) amax = std::max(amax, std::fabs(src[j]));
  const float d = amax / 127.f;
  const float id = amax != 0 ? 127.f / amax : 0.0f;
  int sum = 0;
  for (int j = 0; j < kQK; ++j) {
    qs[j] = static_cast<int8_t>(round_even(src[j] * id));
    sum += qs[j];
  }
  *sum_q = sum;
  return d;
}

void dequantize_q8_0(const void* src, float* dst, int64_t n) {
  const BlockQ8_0* b = static_cast<const BlockQ8_0*>(src);
  for (int64_t i = 0, nb = blocks(n, kQK); i < nb; ++i, dst += kQK) {
    const float d = fp16_to_fp32(b[i].d);
    for (int j = 0; j < kQK; ++j) dst[j] = static_cast<float>(b[i].qs[j]) * d;
  }
}
void quantize_q8_0(const float* src, void* dst, int64_t n) {
  BlockQ8_0* b = static_cast<BlockQ8_0*>(dst);
  for (int64_t i = 0, nb = blocks(n, kQK); i < nb; ++i, src += kQK) {
    int sum_q;
    b[i].d = fp32_to_fp16(quantize_block_q8(src, b[i].qs, &sum_q));
  }
}
float dot_q8_0(const void* w, const void* x, int64_t n) {
  const BlockQ8_0* a = static_cast<const BlockQ8_0*>(w);
  const BlockQ8_0* b = static_cast<const BlockQ8_0*>(x);
  LaneSum8 acc;
  for (int64_t i = 0, nb = blocks(n, kQK); i < nb; ++i) {
    int lanes[8];
    for (int j = 0; j < 8; ++j) {
      lanes[j] = 0;
      for (int k = 4 * j; k < 4 * j + 4; ++k) lanes[j] += a[i].qs[k] * b[i].qs[k];
    }
    acc.add(fp16_to_fp32(a[i].d) * fp16_to_fp32(b[i].d), lanes);
  }
  return acc.total();
}

void dequantize_q8_1(const void* src, float* dst, int64_t n) {
  const BlockQ8_1* b = static_cast<const BlockQ8_1*>(src);
  for (int64_t i = 0, nb = blocks(n, kQK); i < nb; ++i, dst += kQK) {
    const float d = fp16_to_fp32(b[i].d);
    for (int j = 0; j < kQK; ++j) dst[j] = static_cast<float>(b[i].qs[j]) * d;
  }
}
void quantize_q8_1(const float* src, void* dst, int64_t n) {
  BlockQ8_1* b = static_cast<BlockQ8_1*>(dst);
  for (int64_t i = 0, nb = blocks(n, kQK); i < nb; ++i, src += kQK) {
    int sum_q;
    const float d = quantize_block_q8(src, b[i].qs, &sum_q);
    b[i].d = fp32_to_fp16(d);
    b[i].s = fp32_to_fp16(d * static_cast<float>(sum_q));
  }
}

}  // namespace

namespace ref {

const TypeKernels& kernels_for(DType type) {
  static const TypeKernels kF32{dequantize_f32, quantize_f32, dot_f32};
  static const TypeKernels kF16{dequantize_f16, quantize_f16, dot_f16};
  static const TypeKernels kBF16{dequantize_bf16, quantize_bf16, dot_bf16};
  static const TypeKernels kQ4_0{dequantize_q4_0, quantize_q4_0, dot_q4_0};
  static const TypeKernels kQ4_1{dequantize_q4_1, quantize_q4_1, dot_q4_1};
  static const TypeKernels kQ5_0{dequantize_q5_0, quantize_q5_0, dot_q5_0};
  static const TypeKernels kQ5_1{dequantize_q5_1, quantize_q5_1, dot_q5_1};
  static const TypeKernels kQ8_0{dequantize_q8_0, quantize_q8_0, dot_q8_0};
  static const TypeKernels kQ8_1{dequantize_q8_1, quantize_q8_1, nullptr};  // activation only
  switch (type) {
    case DType::F32:
      return kF32;
    case DType::F16:
      return kF16;
    case DType::BF16:
      return kBF16;
    case DType::Q4_0:
      return kQ4_0;
    case DType::Q4_1:
      return kQ4_1;
    case DType::Q5_0:
      return kQ5_0;
    case DType::Q5_1:
      return kQ5_1;
    case DType::Q8_0:
      return kQ8_0;
    case DType::Q8_1:
      return kQ8_1;
    case DType::Q2_K:
    case DType::Q3_K:
    case DType::Q4_K:
    case DType::Q5_K:
    case DType::Q6_K:
    case DType::Q8_K:
      return *ref_kquant_kernels(type);
  }
  SS_CHECK(false, "unknown DType");
}

}  // namespace ref
}  // namespace shardserve::kernels
