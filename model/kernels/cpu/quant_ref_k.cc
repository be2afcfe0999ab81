// Scalar reference kernels for the K-quants (256-element super-blocks): dequantize and dot for
// Q2_K, Q3_K, Q4_K, Q5_K and Q6_K against Q8_K, and Q8_K itself (quantized as ggml's
// quantize_row_q8_K_ref). Dots accumulate exact int32 sums per sub-block and scale them once per
// super-block; Q2_K and Q3_K do so in the float order of the kernels llama.cpp runs on x86.
#include <algorithm>
#include <cmath>

#include "base/check.h"
#include "model/kernels/cpu/quant_internal.h"

namespace shardserve::kernels {
namespace {

int64_t super_blocks(int64_t n) {
  SS_CHECK(n % kQKK == 0, "row length is not a multiple of 256");
  return n / kQKK;
}

float load_f32(const float& f) {  // Q8_K's d may sit at any address
  float v;
  std::memcpy(&v, &f, 4);
  return v;
}

// --- Q8_K: float d, q = min(127, round_even(-127 / max * x)), max the signed max-magnitude ---

void quantize_q8_k(const float* src, void* dst, int64_t n) {
  BlockQ8_K* b = static_cast<BlockQ8_K*>(dst);
  for (int64_t i = 0, nb = super_blocks(n); i < nb; ++i, src += kQKK) {
    float amax = 0, max = 0;
    for (int j = 0; j < kQKK; ++j) {
      if (std::fabs(src[j]) > amax) {
        amax = std::fabs(src[j]);
        max = src[j];
      }
    }
    BlockQ8_K& y = b[i];
    if (amax == 0) {
      const float zero = 0;
      std::memcpy(&y.d, &zero, 4);
      std::memset(y.qs, 0, sizeof(y.qs));
      std::memset(y.bsums, 0, sizeof(y.bsums));
      continue;
    }
    const float iscale = -127.f / max;
    for (int j = 0; j < kQKK; ++j) {
      y.qs[j] = static_cast<int8_t>(std::min(127, round_even(iscale * src[j])));
    }
    for (int g = 0; g < kQKK / 16; ++g) {
      int sum = 0;
      for (int l = 0; l < 16; ++l) sum += y.qs[g * 16 + l];
      y.bsums[g] = static_cast<int16_t>(sum);
    }
    const float d = 1 / iscale;
    std::memcpy(&y.d, &d, 4);
  }
}

void dequantize_q8_k(const void* src, float* dst, int64_t n) {
  const BlockQ8_K* b = static_cast<const BlockQ8_K*>(src);
  for (int64_t i = 0, nb = super_blocks(n); i < nb; ++i, dst += kQKK) {
    const float d = load_f32(b[i].d);
    for (int j = 0; j < kQKK; ++j) dst[j] = d * static_cast<float>(b[i].qs[j]);
  }
}

// --- Q2_K: 16 sub-blocks of 16; x = (d * sc_j) * q - dmin * m_j, two roundings as in ggml ---

void dequantize_q2_k(const void* src, float* dst, int64_t n) {
  const BlockQ2_K* b = static_cast<const BlockQ2_K*>(src);
  for (int64_t i = 0, nb = super_blocks(n); i < nb; ++i, dst += kQKK) {
    const float d = fp16_to_fp32(b[i].d), dmin = fp16_to_fp32(b[i].dmin);
    for (int j = 0; j < 16; ++j) {
      const float dl = d * static_cast<float>(b[i].scales[j] & 0xf);
      const float ml = dmin * static_cast<float>(b[i].scales[j] >> 4);
      for (int k = 16 * j; k < 16 * j + 16; ++k) {
        const float p = dl * static_cast<float>(q2k_quant(b[i].qs, k));
        dst[k] = p - ml;
      }
    }
  }
}

// The order of llama.cpp's x86 kernel for Q2_K weights, ggml_gemv_q2_K_8x8_q8_K (on AVX-512
// CPUs llama.cpp repacks every Q2_K matrix of a multiple of 8 rows and runs that kernel for one
// token): per super-block the exact sums I = sum_j sc_j * (q . y)_j and M = sum_j m_j * bsum_j,
// two fused multiply-add chains acc += I * (d * dy) and acc_m += M * (dmin * dy), and
// acc - acc_m at the end. (Its generic ggml_vec_dot_q2_K_q8_K, run on AVX2-only CPUs, folds
// the min terms into eight lanes instead.)
float dot_q2_k(const void* w, const void* x, int64_t n) {
  const BlockQ2_K* a = static_cast<const BlockQ2_K*>(w);
  const BlockQ8_K* y = static_cast<const BlockQ8_K*>(x);
  float acc = 0, acc_m = 0;
  for (int64_t i = 0, nb = super_blocks(n); i < nb; ++i) {
    int sumi = 0, summ = 0;
    for (int j = 0; j < 16; ++j) {
      int isum = 0;
      for (int k = 16 * j; k < 16 * j + 16; ++k) isum += q2k_quant(a[i].qs, k) * y[i].qs[k];
      sumi += (a[i].scales[j] & 0xf) * isum;
      summ += (a[i].scales[j] >> 4) * y[i].bsums[j];
    }
    const float dy = load_f32(y[i].d);
    acc = std::fma(static_cast<float>(sumi), fp16_to_fp32(a[i].d) * dy, acc);
    acc_m = std::fma(static_cast<float>(summ), fp16_to_fp32(a[i].dmin) * dy, acc_m);
  }
  return acc - acc_m;
}

// --- Q3_K: 16 sub-blocks of 16; x = (d * sc_j) * q, q in [-4, 3] ---

void dequantize_q3_k(const void* src, float* dst, int64_t n) {
  const BlockQ3_K* b = static_cast<const BlockQ3_K*>(src);
  for (int64_t i = 0, nb = super_blocks(n); i < nb; ++i, dst += kQKK) {
    const float d = fp16_to_fp32(b[i].d);
    for (int j = 0; j < 16; ++j) {
      const float dl = d * static_cast<float>(q3k_scale(b[i].scales, j));
      for (int k = 16 * j; k < 16 * j + 16; ++k) {
        dst[k] = dl * static_cast<float>(q3k_quant(b[i], k));
      }
    }
  }
}

// ggml_vec_dot_q3_K_q8_K's x86 order (llama.cpp does not repack Q3_K): LaneSum8 over the
// super-blocks, lane l taking elements 4l..4l+3 of each of the eight 32-element quarters (scaled
// by their sub-block's scale, exactly in int32), and dy * d per super-block.
float dot_q3_k(const void* w, const void* x, int64_t n) {
  const BlockQ3_K* a = static_cast<const BlockQ3_K*>(w);
  const BlockQ8_K* y = static_cast<const BlockQ8_K*>(x);
  LaneSum8 acc;
  for (int64_t i = 0, nb = super_blocks(n); i < nb; ++i) {
    int sc[16];
    for (int j = 0; j < 16; ++j) sc[j] = q3k_scale(a[i].scales, j);
    int lanes[8] = {};
    for (int k = 0; k < kQKK; k += 4) {
      int s = 0;
      for (int e = k; e < k + 4; ++e) s += q3k_quant(a[i], e) * y[i].qs[e];
      lanes[(k / 4) % 8] += sc[k / 16] * s;
    }
    acc.add(load_f32(y[i].d) * fp16_to_fp32(a[i].d), lanes);
  }
  return acc.total();
}

// --- Q4_K / Q5_K: 8 sub-blocks of 32; x = d * sc_j * q - dmin * m_j ---
void dequantize_q4_k(const void* src, float* dst, int64_t n) {
  const BlockQ4_K* b = static_cast<const BlockQ4_K*>(src);
  for (int64_t i = 0, nb = super_blocks(n); i < nb; ++i, dst += kQKK) {
    const float d = fp16_to_fp32(b[i].d), dmin = fp16_to_fp32(b[i].dmin);
    for (int j = 0; j < 8; ++j) {
      uint8_t sc, mn;
      k_scale_min(j, b[i].scales, &sc, &mn);
      const float d1 = d * sc, m1 = dmin * mn;
      for (int l = 0; l < 32; ++l) {
        dst[32 * j + l] = d1 * static_cast<float>(q4k_quant(b[i].qs, j, l)) - m1;
      }
    }
  }
}

// ggml's x86 K-quant dots (the AVX2 kernels, which its AVX-512 builds use too) sum each super-
// block's integer products in eight lanes, element e of a 32-element group going to lane
// (e % 32) / 4, and fuse each lane times the super-block's scale product into a float lane
// accumulator (LaneSum8); Q4_K's mins go to four more float lanes (pairs of 32-element groups),
// folded as (0 + 2) + (1 + 3) and added last; Q5_K's to one float, fused per super-block; Q6_K
// subtracts its offset of 32 per lane through the activations' sums.
int q8k_pair_sum(const BlockQ8_K& y, int j) {  // the 32-element group j's sum of quants
  return y.bsums[2 * j] + y.bsums[2 * j + 1];
}

float dot_q4_k(const void* w, const void* x, int64_t n) {
  const BlockQ4_K* a = static_cast<const BlockQ4_K*>(w);
  const BlockQ8_K* y = static_cast<const BlockQ8_K*>(x);
  LaneSum8 acc;
  float acc_m[4] = {};
  for (int64_t i = 0, nb = super_blocks(n); i < nb; ++i) {
    const float dy = load_f32(y[i].d);
    const float d = dy * fp16_to_fp32(a[i].d), dmin = -dy * fp16_to_fp32(a[i].dmin);
    uint8_t sc[8], mn[8];
    for (int j = 0; j < 8; ++j) k_scale_min(j, a[i].scales, &sc[j], &mn[j]);
    for (int k = 0; k < 4; ++k) {
      const int prod =
          mn[2 * k] * q8k_pair_sum(y[i], 2 * k) + mn[2 * k + 1] * q8k_pair_sum(y[i], 2 * k + 1);
      acc_m[k] = std::fma(dmin, static_cast<float>(prod), acc_m[k]);
    }
    int lanes[8] = {};
    for (int j = 0; j < 8; ++j)
      for (int l = 0; l < 32; ++l)
        lanes[l / 4] += sc[j] * q4k_quant(a[i].qs, j, l) * y[i].qs[32 * j + l];
    acc.add(d, lanes);
  }
  return acc.total() + ((acc_m[0] + acc_m[2]) + (acc_m[1] + acc_m[3]));
}

void dequantize_q5_k(const void* src, float* dst, int64_t n) {
  const BlockQ5_K* b = static_cast<const BlockQ5_K*>(src);
  for (int64_t i = 0, nb = super_blocks(n); i < nb; ++i, dst += kQKK) {
    const float d = fp16_to_fp32(b[i].d), dmin = fp16_to_fp32(b[i].dmin);
    for (int j = 0; j < 8; ++j) {
      uint8_t sc, mn;
      k_scale_min(j, b[i].scales, &sc, &mn);
      const float d1 = d * sc, m1 = dmin * mn;
      for (int l = 0; l < 32; ++l) {
        dst[32 * j + l] = d1 * static_cast<float>(q5k_quant(b[i].qs, b[i].qh, j, l)) - m1;
      }
    }
  }
}

float dot_q5_k(const void* w, const void* x, int64_t n) {
  const BlockQ5_K* a = static_cast<const BlockQ5_K*>(w);
  const BlockQ8_K* y = static_cast<const BlockQ8_K*>(x);
  LaneSum8 acc;
  float summs = 0;
  for (int64_t i = 0, nb = super_blocks(n); i < nb; ++i) {
    const float dy = load_f32(y[i].d);
    const float d = dy * fp16_to_fp32(a[i].d), dmin = -dy * fp16_to_fp32(a[i].dmin);
    uint8_t sc[8], mn[8];
    int msum = 0;
    for (int j = 0; j < 8; ++j) {
      k_scale_min(j, a[i].scales, &sc[j], &mn[j]);
      msum += mn[j] * q8k_pair_sum(y[i], j);
    }
    summs = std::fma(dmin, static_cast<float>(msum), summs);
    int lanes[8] = {};
    for (int j = 0; j < 8; ++j)
      for (int l = 0; l < 32; ++l)
        lanes[l / 4] += sc[j] * q5k_quant(a[i].qs, a[i].qh, j, l) * y[i].qs[32 * j + l];
    acc.add(d, lanes);
  }
  return acc.total() + summs;
}

// --- Q6_K: x = d * scales[k / 16] * (q - 32), q = 4 low bits | 2 high bits << 4 ---
void dequantize_q6_k(const void* src, float* dst, int64_t n) {
  const BlockQ6_K* b = static_cast<const BlockQ6_K*>(src);
  for (int64_t i = 0, nb = super_blocks(n); i < nb; ++i, dst += kQKK) {
    const float d = fp16_to_fp32(b[i].d);
    for (int k = 0; k < kQKK; ++k) {
      dst[k] =
          d * static_cast<float>(b[i].scales[k / 16]) * static_cast<float>(q6k_quant(b[i], k) - 32);
    }
  }
}

float dot_q6_k(const void* w, const void* x, int64_t n) {
  const BlockQ6_K* a = static_cast<const BlockQ6_K*>(w);
  const BlockQ8_K* y = static_cast<const BlockQ8_K*>(x);
  LaneSum8 acc;
  for (int64_t i = 0, nb = super_blocks(n); i < nb; ++i) {
    // The unsigned quants' products by lane, less 32 x (scale x sum of the activations) of the
    // 32-element group k in lane k: ggml subtracts the offset through Q8_K's sums.
    int lanes[8] = {};
    for (int e = 0; e < kQKK; ++e)
      lanes[(e % 32) / 4] += a[i].scales[e / 16] * q6k_quant(a[i], e) * y[i].qs[e];
    for (int k = 0; k < 8; ++k)
      lanes[k] -= 32 * (a[i].scales[2 * k] * y[i].bsums[2 * k] +
                        a[i].scales[2 * k + 1] * y[i].bsums[2 * k + 1]);
    acc.add(load_f32(y[i].d) * fp16_to_fp32(a[i].d), lanes);
  }
  return acc.total();
}

}  // namespace

const TypeKernels* ref_kquant_kernels(DType type) {
  static const TypeKernels kQ2_K{dequantize_q2_k, nullptr, dot_q2_k};
  static const TypeKernels kQ3_K{dequantize_q3_k, nullptr, dot_q3_k};
  static const TypeKernels kQ4_K{dequantize_q4_k, nullptr, dot_q4_k};
  static const TypeKernels kQ5_K{dequantize_q5_k, nullptr, dot_q5_k};
  static const TypeKernels kQ6_K{dequantize_q6_k, nullptr, dot_q6_k};
  static const TypeKernels kQ8_K{dequantize_q8_k, quantize_q8_k, nullptr};
  switch (type) {
    case DType::Q2_K:
      return &kQ2_K;
    case DType::Q3_K:
      return &kQ3_K;
    case DType::Q4_K:
      return &kQ4_K;
    case DType::Q5_K:
      return &kQ5_K;
    case DType::Q6_K:
      return &kQ6_K;
    case DType::Q8_K:
      return &kQ8_K;
    default:
      return nullptr;
  }
}

}  // namespace shardserve::kernels
