// Device code of the quantized GEMV (model/cuda/quant_gemv.cuh describes the design;
// quant_gemv.cu launches these kernels). A header of its own so that
// model/cuda/quant_gemv_emulated_test.cc can compile the same kernels as host code and run them
// on the CPU (model/cuda/testing/emulated_block.h): with SS_QUANT_GEMV_EMULATED defined, the
// includer provides threadIdx, blockIdx, sync_warp, shfl_xor, dp4a, vsub4, round_to_int,
// gemv_smem, load16_stream, load16, store16, ld_u16 and ld_u32 before including this file.
#pragma once

#include <cuda_fp16.h>
#include <vector_types.h>

#include <cstdint>

#include "model/tensor_type.h"

namespace shardserve::gpu::quant_gemv_kernels {

inline constexpr int kWarps = 4;  // rows per block: one warp each
inline constexpr int kThreads = 32 * kWarps;
inline constexpr int kUnitsPerTile = 128;  // 32-element units a warp stages per tile
inline constexpr int kMaxCols = 8;

#ifndef SS_QUANT_GEMV_EMULATED
__device__ inline void sync_warp() {
  __syncwarp();
}
template <typename T>
__device__ inline T shfl_xor(T v, int offset) {
  return __shfl_xor_sync(0xffffffffu, v, offset);
}
__device__ inline int dp4a(int a, int b, int c) {
  return __dp4a(a, b, c);
}
// Byte-wise a - b, no borrows between bytes.
__device__ inline uint32_t vsub4(uint32_t a, uint32_t b) {
  return __vsub4(a, b);
}
__device__ inline int round_to_int(float x) {
  return __float2int_rn(x);
}
// The block's dynamic shared memory: kWarps tiles.
__device__ inline unsigned char* gemv_smem() {
  extern __shared__ __align__(16) unsigned char smem[];
  return smem;
}
// 16 bytes at p (16-byte aligned). Weights stream through, read once (evict first); activation
// quants are read by every row's warp and stay cached.
__device__ inline uint4 load16_stream(const void* p) {
  return __ldcs(static_cast<const uint4*>(p));
}
__device__ inline uint4 load16(const void* p) {
  return __ldg(static_cast<const uint4*>(p));
}
__device__ inline void store16(void* p, const uint4& v) {
  *static_cast<uint4*>(p) = v;
}
// Little-endian loads from shared memory at 2-byte aligned addresses.
__device__ inline uint32_t ld_u16(const uint8_t* p) {
  return *reinterpret_cast<const uint16_t*>(p);
}
__device__ inline uint32_t ld_u32(const uint8_t* p) {
  return ld_u16(p) | (ld_u16(p + 2) << 16);
}
#endif

template <typename T>
__device__ inline T warp_sum(T v) {
  for (int offset = 16; offset > 0; offset /= 2) v += shfl_xor(v, offset);
  return v;
}
__device__ inline float warp_max(float v) {
  for (int offset = 16; offset > 0; offset /= 2) v = fmaxf(v, shfl_xor(v, offset));
  return v;
}

__device__ inline float ld_f16(const uint8_t* p) {
  return __half2float(__ushort_as_half(static_cast<unsigned short>(ld_u16(p))));
}

// One 32-element unit of a weight row, decoded: q[k] packs the quants of elements 4k..4k+3
// (int8, little-endian), and its value against 8-bit activations (quants x, scale dx, sx = dx *
// sum(x)) is
//   dx * (d * (s0 * (q . x)[0..15] + s1 * (q . x)[16..31])
//         - dm * (m0 * sum(x[0..15]) + m1 * sum(x[16..31]))) + c * sx.
struct Unit {
  int q[8];
  int s0, s1;  // integer scales of the two halves
  int m0, m1;  // integer mins of the two halves (Q2_K only)
  float d, dm, c;
};

// Per type: block bytes and elements, units per block, decode(block, unit).
template <DType T>
struct Format;

template <>
struct Format<DType::Q4_0> {  // {f16 d; u8 qs[16]}: x = (q - 8) * d
  static constexpr int kBlockBytes = 18, kUnits = 1;
  static constexpr bool kGroupMins = false;
  __device__ static Unit decode(const uint8_t* b, int) {
    Unit u;
    u.d = ld_f16(b);
    u.c = -8.0f * u.d;
    u.s0 = u.s1 = 1;
    for (int k = 0; k < 4; ++k) {
      const uint32_t w = ld_u32(b + 2 + 4 * k);
      u.q[k] = static_cast<int>(w & 0x0f0f0f0fu);
      u.q[k + 4] = static_cast<int>((w >> 4) & 0x0f0f0f0fu);
    }
    return u;
  }
};

template <>
struct Format<DType::Q4_1> {  // {f16 d, m; u8 qs[16]}: x = q * d + m
  static constexpr int kBlockBytes = 20, kUnits = 1;
  static constexpr bool kGroupMins = false;
  __device__ static Unit decode(const uint8_t* b, int) {
    Unit u;
    u.d = ld_f16(b);
    u.c = ld_f16(b + 2);
    u.s0 = u.s1 = 1;
    for (int k = 0; k < 4; ++k) {
      const uint32_t w = ld_u32(b + 4 + 4 * k);
      u.q[k] = static_cast<int>(w & 0x0f0f0f0fu);
      u.q[k + 4] = static_cast<int>((w >> 4) & 0x0f0f0f0fu);
    }
    return u;
  }
};

template <>
struct Format<DType::Q8_0> {  // {f16 d; i8 qs[32]}: x = q * d
  static constexpr int kBlockBytes = 34, kUnits = 1;
  static constexpr bool kGroupMins = false;
  __device__ static Unit decode(const uint8_t* b, int) {
    Unit u;
    u.d = ld_f16(b);
    u.c = 0.0f;
    u.s0 = u.s1 = 1;
    for (int k = 0; k < 8; ++k) u.q[k] = static_cast<int>(ld_u32(b + 2 + 4 * k));
    return u;
  }
};

// Q2_K / Q3_K low bits of unit j (elements 32j..32j+31): half h = j / 4, quarter t = j % 4, bits
// 2t, 2t+1 of qs[32h + l].
__device__ inline uint32_t k_low2(const uint8_t* qs, int j, int k) {
  return (ld_u32(qs + 32 * (j / 4) + 4 * k) >> (2 * (j % 4))) & 0x03030303u;
}

template <>
struct Format<DType::Q2_K> {  // {u8 scales[16]; u8 qs[64]; f16 d, dmin}: x = d sc q - dmin m
  static constexpr int kBlockBytes = 84, kUnits = 8;
  static constexpr bool kGroupMins = true;
  __device__ static Unit decode(const uint8_t* b, int j) {
    Unit u;
    u.d = ld_f16(b + 80);
    u.dm = ld_f16(b + 82);
    u.c = 0.0f;
    u.s0 = b[2 * j] & 0xf;
    u.m0 = b[2 * j] >> 4;
    u.s1 = b[2 * j + 1] & 0xf;
    u.m1 = b[2 * j + 1] >> 4;
    for (int k = 0; k < 8; ++k) u.q[k] = static_cast<int>(k_low2(b + 16, j, k));
    return u;
  }
};

// Scale (-32..31) of sub-block g (0..15) of a Q3_K super-block (quant_internal.h, q3k_scale).
__device__ inline int q3k_scale(const uint8_t* scales, int g) {
  const int low = g < 8 ? scales[g] & 0xf : scales[g - 8] >> 4;
  const int high = (scales[8 + g % 4] >> (2 * (g / 4))) & 3;
  return (low | (high << 4)) - 32;
}

template <>
struct Format<DType::Q3_K> {  // {u8 hmask[32]; u8 qs[64]; u8 scales[12]; f16 d}: x = d sc q
  static constexpr int kBlockBytes = 110, kUnits = 8;
  static constexpr bool kGroupMins = false;
  __device__ static Unit decode(const uint8_t* b, int j) {
    Unit u;
    u.d = ld_f16(b + 108);
    u.c = 0.0f;
    u.s0 = q3k_scale(b + 96, 2 * j);
    u.s1 = q3k_scale(b + 96, 2 * j + 1);
    const int shift = 4 * (j / 4) + j % 4;  // the high bit of unit j in hmask[l]
    for (int k = 0; k < 8; ++k) {
      const uint32_t high = (ld_u32(b + 4 * k) >> shift) & 0x01010101u;
      // q = low + 4 high - 4, in [-4, 3]
      u.q[k] = static_cast<int>(vsub4(k_low2(b + 32, j, k) | (high << 2), 0x04040404u));
    }
    return u;
  }
};

// 6-bit scale and min of sub-block j (0..7) of a Q4_K / Q5_K super-block (k_scale_min).
__device__ inline void k_scale_min(const uint8_t* q, int j, int* sc, int* mn) {
  if (j < 4) {
    *sc = q[j] & 63;
    *mn = q[j + 4] & 63;
  } else {
    *sc = (q[j + 4] & 0xf) | ((q[j - 4] >> 6) << 4);
    *mn = (q[j + 4] >> 4) | ((q[j] >> 6) << 4);
  }
}

template <>
struct Format<DType::Q4_K> {  // {f16 d, dmin; u8 scales[12]; u8 qs[128]}: x = d sc q - dmin m
  static constexpr int kBlockBytes = 144, kUnits = 8;
  static constexpr bool kGroupMins = false;
  __device__ static Unit decode(const uint8_t* b, int j) {
    Unit u;
    int sc, mn;
    k_scale_min(b + 4, j, &sc, &mn);
    u.d = ld_f16(b);
    u.c = -ld_f16(b + 2) * static_cast<float>(mn);
    u.s0 = u.s1 = sc;
    const uint8_t* qs = b + 16 + 32 * (j / 2);
    for (int k = 0; k < 8; ++k)
      u.q[k] = static_cast<int>((ld_u32(qs + 4 * k) >> (4 * (j & 1))) & 0x0f0f0f0fu);
    return u;
  }
};

template <>
struct Format<DType::Q5_K> {  // {f16 d, dmin; u8 scales[12]; u8 qh[32]; u8 qs[128]}
  static constexpr int kBlockBytes = 176, kUnits = 8;
  static constexpr bool kGroupMins = false;
  __device__ static Unit decode(const uint8_t* b, int j) {
    Unit u;
    int sc, mn;
    k_scale_min(b + 4, j, &sc, &mn);
    u.d = ld_f16(b);
    u.c = -ld_f16(b + 2) * static_cast<float>(mn);
    u.s0 = u.s1 = sc;
    const uint8_t* qs = b + 48 + 32 * (j / 2);
    for (int k = 0; k < 8; ++k) {
      const uint32_t low = (ld_u32(qs + 4 * k) >> (4 * (j & 1))) & 0x0f0f0f0fu;
      const uint32_t high = (ld_u32(b + 16 + 4 * k) >> j) & 0x01010101u;
      u.q[k] = static_cast<int>(low | (high << 4));
    }
    return u;
  }
};

template <>
struct Format<DType::Q6_K> {  // {u8 ql[128]; u8 qh[64]; i8 scales[16]; f16 d}: x = d sc (q - 32)
  static constexpr int kBlockBytes = 210, kUnits = 8;
  static constexpr bool kGroupMins = false;
  __device__ static Unit decode(const uint8_t* b, int j) {
    Unit u;
    u.d = ld_f16(b + 208);
    u.c = 0.0f;
    u.s0 = static_cast<int8_t>(b[192 + 2 * j]);
    u.s1 = static_cast<int8_t>(b[192 + 2 * j + 1]);
    const int h = j / 4, t = j % 4;
    const uint8_t* ql = b + 64 * h + 32 * (t & 1);
    const uint8_t* qh = b + 128 + 32 * h;
    for (int k = 0; k < 8; ++k) {
      const uint32_t low = (ld_u32(ql + 4 * k) >> (4 * (t >> 1))) & 0x0f0f0f0fu;
      const uint32_t high = (ld_u32(qh + 4 * k) >> (2 * t)) & 0x03030303u;
      u.q[k] = static_cast<int>(vsub4(low | (high << 4), 0x20202020u));
    }
    return u;
  }
};

// A warp tile: kUnitsPerTile units of whole blocks, a multiple of 16 bytes.
template <DType T>
struct Tile {
  using F = Format<T>;
  static constexpr int kBlocks = kUnitsPerTile / F::kUnits;
  static constexpr int kBytes = kBlocks * F::kBlockBytes;
  static constexpr int kChunks = kBytes / 16;
  static constexpr int kChunksPerLane = (kChunks + 31) / 32;
  static_assert(kBytes % 16 == 0, "tiles are whole 16-byte chunks");
};

// Dynamic shared memory of a gemv block, in bytes.
template <DType T>
constexpr int gemv_smem_bytes() {
  return kWarps * Tile<T>::kBytes;
}

struct GemvArgs {
  const uint8_t* w;  // 16-byte aligned
  size_t w_stride;   // a multiple of 16
  int64_t rows;
  int64_t row_bytes;  // bytes of blocks per row
  const int8_t* xq;   // [N][ldxq], 16-byte aligned rows
  int64_t ldxq;
  const float2* xds;  // [N][ldds]
  int64_t ldds;
  float* y;  // [N][ldy]
  int64_t ldy;
  bool accumulate;
};

// y[c][row] (+)= W[row] . x^[c] for c < N. Grid: ceil(rows / kWarps) blocks of kThreads;
// dynamic shared memory gemv_smem_bytes<T>().
template <DType T, int N>
__global__ void __launch_bounds__(kThreads) gemv_kernel(GemvArgs a) {
  using F = Format<T>;
  using L = Tile<T>;
  const int warp = static_cast<int>(threadIdx.x) / 32, lane = static_cast<int>(threadIdx.x) % 32;
  const int64_t row = static_cast<int64_t>(blockIdx.x) * kWarps + warp;
  if (row >= a.rows) return;  // the whole warp
  unsigned char* tile = gemv_smem() + warp * L::kBytes;
  const uint8_t* src = a.w + row * a.w_stride;
  const int n_tiles = static_cast<int>((a.row_bytes + L::kBytes - 1) / L::kBytes);

  // Registers hold the next tile while the current one is computed from shared memory.
  uint4 next[L::kChunksPerLane] = {};
  int next_chunks = 0;
  auto fetch = [&](int t) {
    const int64_t begin = static_cast<int64_t>(t) * L::kBytes;
    const int64_t bytes = a.row_bytes - begin < L::kBytes ? a.row_bytes - begin : L::kBytes;
    next_chunks = static_cast<int>((bytes + 15) / 16);  // within the padded stride
#pragma unroll
    for (int i = 0; i < L::kChunksPerLane; ++i) {
      const int c = lane + 32 * i;
      if (c < next_chunks) next[i] = load16_stream(src + begin + 16 * c);
    }
  };
  fetch(0);

  float acc[N];
#pragma unroll
  for (int c = 0; c < N; ++c) acc[c] = 0.0f;
  for (int t = 0; t < n_tiles; ++t) {
#pragma unroll
    for (int i = 0; i < L::kChunksPerLane; ++i) {
      const int c = lane + 32 * i;
      if (c < next_chunks) store16(tile + 16 * c, next[i]);
    }
    const int64_t begin = static_cast<int64_t>(t) * L::kBytes;
    const int bytes =
        static_cast<int>(a.row_bytes - begin < L::kBytes ? a.row_bytes - begin : L::kBytes);
    sync_warp();
    if (t + 1 < n_tiles) fetch(t + 1);

    const int n_units = bytes / F::kBlockBytes * F::kUnits;
    for (int u = lane; u < n_units; u += 32) {
      const Unit w = F::decode(tile + (u / F::kUnits) * F::kBlockBytes, u % F::kUnits);
      const int64_t unit = static_cast<int64_t>(t) * kUnitsPerTile + u;  // element / 32
#pragma unroll
      for (int c = 0; c < N; ++c) {
        const int8_t* xq = a.xq + c * a.ldxq + 32 * unit;
        const uint4 x0 = load16(xq), x1 = load16(xq + 16);
        const int x[8] = {static_cast<int>(x0.x), static_cast<int>(x0.y), static_cast<int>(x0.z),
                          static_cast<int>(x0.w), static_cast<int>(x1.x), static_cast<int>(x1.y),
                          static_cast<int>(x1.z), static_cast<int>(x1.w)};
        int i0 = 0, i1 = 0;
#pragma unroll
        for (int k = 0; k < 4; ++k) {
          i0 = dp4a(w.q[k], x[k], i0);
          i1 = dp4a(w.q[k + 4], x[k + 4], i1);
        }
        float r = w.d * static_cast<float>(w.s0 * i0 + w.s1 * i1);
        if constexpr (F::kGroupMins) {
          int h0 = 0, h1 = 0;
#pragma unroll
          for (int k = 0; k < 4; ++k) {
            h0 = dp4a(0x01010101, x[k], h0);
            h1 = dp4a(0x01010101, x[k + 4], h1);
          }
          r -= w.dm * static_cast<float>(w.m0 * h0 + w.m1 * h1);
        }
        const float2 ds = a.xds[c * a.ldds + unit];
        acc[c] += ds.x * r + w.c * ds.y;
      }
    }
    sync_warp();  // before the next tile overwrites this one
  }
#pragma unroll
  for (int c = 0; c < N; ++c) {
    const float v = warp_sum(acc[c]);
    if (lane == 0) {
      float* out = a.y + c * a.ldy + row;
      *out = a.accumulate ? *out + v : v;
    }
  }
}

__device__ inline float to_float(float x) {
  return x;
}
__device__ inline float to_float(__half x) {
  return __half2float(x);
}

// One warp per 32-element block of n rows of x: q = round(x * 127 / amax), (d, d * sum q).
// Grid: ceil(n * cols / 32 / kWarps) blocks of kThreads.
template <typename In>
__global__ void __launch_bounds__(kThreads)
    quantize_kernel(const In* x, int64_t ldx, int n, int64_t cols, int8_t* xq, int64_t ldxq,
                    float2* xds, int64_t ldds) {
  const int warp = static_cast<int>(threadIdx.x) / 32, lane = static_cast<int>(threadIdx.x) % 32;
  const int64_t per_row = cols / 32;
  const int64_t blk = static_cast<int64_t>(blockIdx.x) * kWarps + warp;
  if (blk >= n * per_row) return;
  const int64_t c = blk / per_row, b = blk % per_row;
  const float v = to_float(x[c * ldx + 32 * b + lane]);
  const float amax = warp_max(fabsf(v));
  const float id = amax > 0.0f ? 127.0f / amax : 0.0f;
  const int q = round_to_int(v * id);
  const int sum = warp_sum(q);
  xq[c * ldxq + 32 * b + lane] = static_cast<int8_t>(q);
  if (lane == 0) {
    const float d = amax / 127.0f;
    xds[c * ldds + b] = make_float2(d, d * static_cast<float>(sum));
  }
}

}  // namespace shardserve::gpu::quant_gemv_kernels
