// Device code of the paged attention (model/cuda/attention.cuh describes the design;
// attention.cu launches these kernels). A header of its own so that
// model/cuda/attention_emulated_test.cc can compile the same kernels as host code and run them
// on the CPU (one fiber per thread) where no GPU exists: with SS_ATTENTION_EMULATED defined,
// the includer provides threadIdx, blockIdx, __syncthreads, warp_sum, warp_max,
// attention_smem(), load16 and store16 before including this file.
#pragma once

#include <cuda_fp16.h>

#include <cstdint>

#include "model/cuda/attention.cuh"
#include "model/cuda/attention_plan.h"
#ifndef SS_ATTENTION_EMULATED
#include "model/cuda/block_reduce.cuh"
#endif

namespace shardserve::gpu::attention_kernels {

inline constexpr int kThreads = 128;  // attention and merge blocks: 4 warps
inline constexpr int kWarps = kThreads / 32;
inline constexpr float kLog2e = 1.4426950408889634f;

// Per head_dim: kRows query rows (tokens x query heads of one KV head) per block, kKeys
// positions per tile of K and V in shared memory.
template <int HD>
struct Config;
template <>
struct Config<64> {
  static constexpr int kRows = 64, kKeys = 64;
};
template <>
struct Config<128> {
  static constexpr int kRows = 64, kKeys = 64;
};
template <>
struct Config<256> {
  static constexpr int kRows = 32, kKeys = 32;
};

template <int HD>
struct Layout {
  using C = Config<HD>;
  static constexpr int kRows = C::kRows, kKeys = C::kKeys;
  static constexpr int kChunks = HD / 8;      // 16-byte chunks (8 halves) per K or V row
  static constexpr int kKvStride = HD + 8;    // halves per row in shared memory: the 16-byte
                                              // pad keeps 8 lanes reading 8 rows conflict-free
  static constexpr int kSStride = kKeys + 1;  // floats per score row (conflict-free columns)
  // Scores: thread (key tid % kKeys, row group tid / kKeys) takes rows of its group.
  static constexpr int kKeyGroups = kThreads / kKeys;
  // Weighted V: thread (chunk tid % kChunks, row group tid / kChunks) accumulates 8 dims of
  // rows rg, rg + kRowGroups, ...: kRowsPerThread rows.
  static constexpr int kRowGroups = kThreads / kChunks;
  static constexpr int kRowsPerThread = kRows / kRowGroups;
  // Shared memory, in bytes: q (f16), K tile, V tile, scores, running max, sum, correction.
  static constexpr int kQBytes = kRows * HD * 2;
  static constexpr int kKvBytes = kKeys * kKvStride * 2;
  static constexpr int kSBytes = kRows * kSStride * 4;
  static constexpr int kSmemBytes = kQBytes + 2 * kKvBytes + kSBytes + 3 * kRows * 4;

  static_assert(kKeys % 32 == 0 && kThreads % kKeys == 0, "a warp's lanes take distinct keys");
  static_assert(kRows % (8 * kKeyGroups) == 0, "score rows come in chunks of 8 per thread");
  static_assert(kThreads % kChunks == 0 && kRows % kRowGroups == 0);
  static_assert(kQBytes % 16 == 0 && kKvBytes % 16 == 0);
};

using WorkItem = AttentionWorkItem;
using MergeItem = AttentionMergeItem;
constexpr int kWorkInts = sizeof(WorkItem) / sizeof(int32_t);
constexpr int kMergeInts = sizeof(MergeItem) / sizeof(int32_t);

template <typename Out>
struct AttentionArgs {
  const float* q;
  int64_t ldq;
  int group;  // query heads per KV head
  PagedKvLayer cache;
  TokenSlots slots;
  const WorkItem* items;  // nullptr: block x is token x over its whole context
  float qk_scale;         // scale * log2(e)
  Out* out;
  int64_t ld_out;
  float* ws_out;  // [rows][head_dim] partial (unnormalized) outputs
  float* ws_ml;   // [rows][2] running max (base 2) and sum
};

__device__ inline void store(float* p, float v) {
  *p = v;
}
__device__ inline void store(__half* p, float v) {
  *p = __float2half_rn(v);
}

// The 8 halves of a 16-byte load (little-endian: the low half of each word comes first).
__device__ inline void half8_to_float(const uint4& u, float (&f)[8]) {
  const uint32_t w[4] = {u.x, u.y, u.z, u.w};
#pragma unroll
  for (int i = 0; i < 4; ++i) {
    f[2 * i] = __half2float(__ushort_as_half(static_cast<unsigned short>(w[i] & 0xffffu)));
    f[2 * i + 1] = __half2float(__ushort_as_half(static_cast<unsigned short>(w[i] >> 16)));
  }
}

#ifndef SS_ATTENTION_EMULATED
// The block's dynamic shared memory.
__device__ inline unsigned char* attention_smem() {
  extern __shared__ __align__(16) unsigned char smem[];
  return smem;
}

// 16 bytes at p (16-byte aligned).
__device__ inline uint4 load16(const void* p) {
  return *static_cast<const uint4*>(p);
}
__device__ inline void store16(void* p, const uint4& v) {
  *static_cast<uint4*>(p) = v;
}
#endif

// Block (work item blockIdx.x, KV head blockIdx.y); see the header for the design. Per tile of
// kKeys positions: stage K and V (16-byte loads, zeros past the range), scores into shared
// memory, online softmax per row (one warp per row), weighted V into registers.
template <int HD, typename Out>
__global__ void __launch_bounds__(kThreads) attention_kernel(AttentionArgs<Out> a) {
  using L = Layout<HD>;
  unsigned char* smem = attention_smem();
  __half* q_s = reinterpret_cast<__half*>(smem);               // [kRows][HD]
  __half* k_s = reinterpret_cast<__half*>(smem + L::kQBytes);  // [kKeys][kKvStride]
  __half* v_s = reinterpret_cast<__half*>(smem + L::kQBytes + L::kKvBytes);
  float* s_s = reinterpret_cast<float*>(smem + L::kQBytes + 2 * L::kKvBytes);  // [kRows][kSStride]
  float* m_s = s_s + L::kRows * L::kSStride;  // [kRows] running max (base 2)
  float* l_s = m_s + L::kRows;                // [kRows] running sum
  float* corr_s = l_s + L::kRows;             // [kRows] this tile's rescale of the old sums

  const int tid = threadIdx.x, kv_head = blockIdx.y, group = a.group;
  WorkItem it;
  if (a.items) {
    it = a.items[blockIdx.x];
  } else {
    const int32_t t = static_cast<int32_t>(blockIdx.x), pos = a.slots.positions[t];
    it = {t, 1, pos, 0, pos + 1, a.slots.table_begin[t], -1, 0};
  }
  const int rows = it.m * group;  // <= kRows, checked on the host
  const int32_t* table = a.slots.tables + it.table_begin;
  const int bs = static_cast<int>(a.cache.block_size);
  const int64_t n_kv = a.cache.n_kv_heads;

  // q rows (r = i * group + g: token t0 + i, query head kv_head * group + g) rounded to f16,
  // zeros past `rows`; scores start at 0 (rows past `rows` are read but never used).
  for (int e = tid; e < L::kRows * HD; e += kThreads) {
    const int r = e / HD, d = e % HD;
    float x = 0.0f;
    if (r < rows) {
      const int i = r / group, g = r % group;
      x = a.q[static_cast<int64_t>(it.t0 + i) * a.ldq +
              static_cast<int64_t>(kv_head * group + g) * HD + d];
    }
    q_s[e] = __float2half_rn(x);
  }
  for (int e = tid; e < L::kRows * L::kSStride; e += kThreads) s_s[e] = 0.0f;
  for (int r = tid; r < L::kRows; r += kThreads) {
    m_s[r] = -INFINITY;
    l_s[r] = 0.0f;
    corr_s[r] = 0.0f;
  }

  const int key = tid % L::kKeys, key_group = tid / L::kKeys;        // scores
  const int chunk = tid % L::kChunks, row_group = tid / L::kChunks;  // weighted V
  const int warp = tid / 32, lane = tid % 32;                        // softmax
  float acc[L::kRowsPerThread][8];
#pragma unroll
  for (int j = 0; j < L::kRowsPerThread; ++j)
#pragma unroll
    for (int k = 0; k < 8; ++k) acc[j][k] = 0.0f;

  for (int p0 = it.c0; p0 < it.c1; p0 += L::kKeys) {
    __syncthreads();  // the previous tile is consumed (and the setup above is visible)

    // Stage K and V of positions p0 .. p0 + kKeys - 1; zeros at and past c1.
    for (int e = tid; e < L::kKeys * L::kChunks; e += kThreads) {
      const int n = e / L::kChunks, c = e % L::kChunks, p = p0 + n;
      uint4 kv = make_uint4(0, 0, 0, 0), vv = make_uint4(0, 0, 0, 0);
      if (p < it.c1) {
        const int64_t at =
            ((static_cast<int64_t>(table[p / bs]) * n_kv + kv_head) * bs + p % bs) * HD + c * 8;
        kv = load16(a.cache.keys + at);
        vv = load16(a.cache.values + at);
      }
      store16(k_s + n * L::kKvStride + c * 8, kv);
      store16(v_s + n * L::kKvStride + c * 8, vv);
    }
    __syncthreads();

    // Scores s[r][key] = (K_key . q_r) * scale * log2 e, -inf where masked (past c1, or past
    // the row's own position: causal). A warp shares its row group, so q reads broadcast.
    {
      const int p = p0 + key;
      const __half* krow = k_s + key * L::kKvStride;
      for (int rb = key_group; rb < rows; rb += 8 * L::kKeyGroups) {
        float s[8];
#pragma unroll
        for (int j = 0; j < 8; ++j) s[j] = 0.0f;
#pragma unroll 2
        for (int c = 0; c < L::kChunks; ++c) {
          float kf[8];
          half8_to_float(load16(krow + c * 8), kf);
#pragma unroll
          for (int j = 0; j < 8; ++j) {
            const int r = rb + j * L::kKeyGroups;  // < kRows by the static_assert
            if (r < rows) {
              float qf[8];
              half8_to_float(load16(q_s + r * HD + c * 8), qf);
#pragma unroll
              for (int k = 0; k < 8; ++k) s[j] = fmaf(kf[k], qf[k], s[j]);
            }
          }
        }
#pragma unroll
        for (int j = 0; j < 8; ++j) {
          const int r = rb + j * L::kKeyGroups;
          if (r < rows) {
            const bool visible = p < it.c1 && p <= it.pos0 + r / group;
            s_s[r * L::kSStride + key] = visible ? s[j] * a.qk_scale : -INFINITY;
          }
        }
      }
    }
    __syncthreads();

    // Online softmax, one warp per row: new max, weights exp2(s - max) in place of the
    // scores, the rescale of the old sum and accumulators. A row with nothing visible yet keeps
    // max -inf, sum 0 (weights 0, correction 0).
    for (int r = warp; r < rows; r += kWarps) {
      float* srow = s_s + r * L::kSStride;
      float tile_max = -INFINITY;
      for (int n = lane; n < L::kKeys; n += 32) tile_max = fmaxf(tile_max, srow[n]);
      tile_max = warp_max(tile_max);
      const float m_old = m_s[r];
      const float m_new = fmaxf(m_old, tile_max);
      const float m_use = m_new == -INFINITY ? 0.0f : m_new;
      float sum = 0.0f;
      for (int n = lane; n < L::kKeys; n += 32) {
        const float w = exp2f(srow[n] - m_use);
        srow[n] = w;
        sum += w;
      }
      sum = warp_sum(sum);  // every lane has read m_s[r] before lane 0 passes this point
      if (lane == 0) {
        const float corr = exp2f(m_old - m_use);
        corr_s[r] = corr;
        l_s[r] = l_s[r] * corr + sum;
        m_s[r] = m_new;
      }
    }
    __syncthreads();

    // acc[r] = acc[r] * corr[r] + sum_n w[r][n] V[n], 8 dims per thread.
#pragma unroll
    for (int j = 0; j < L::kRowsPerThread; ++j) {
      const int r = row_group + j * L::kRowGroups;
      if (r < rows) {
        const float corr = corr_s[r];
#pragma unroll
        for (int k = 0; k < 8; ++k) acc[j][k] *= corr;
      }
    }
    for (int n = 0; n < L::kKeys; ++n) {
      float vf[8];
      half8_to_float(load16(v_s + n * L::kKvStride + chunk * 8), vf);
#pragma unroll
      for (int j = 0; j < L::kRowsPerThread; ++j) {
        const int r = row_group + j * L::kRowGroups;
        if (r < rows) {
          const float w = s_s[r * L::kSStride + n];
#pragma unroll
          for (int k = 0; k < 8; ++k) acc[j][k] = fmaf(w, vf[k], acc[j][k]);
        }
      }
    }
  }
  __syncthreads();

  // The output (normalized), or the partial result of this partition for the merge.
#pragma unroll
  for (int j = 0; j < L::kRowsPerThread; ++j) {
    const int r = row_group + j * L::kRowGroups;
    if (r >= rows) continue;
    const int i = r / group, g = r % group;
    if (it.ws_row < 0) {
      const float inv = 1.0f / l_s[r];
      Out* o = a.out + static_cast<int64_t>(it.t0 + i) * a.ld_out +
               static_cast<int64_t>(kv_head * group + g) * HD + chunk * 8;
#pragma unroll
      for (int k = 0; k < 8; ++k) store(o + k, acc[j][k] * inv);
    } else {
      const int64_t row = static_cast<int64_t>(it.ws_row) + kv_head * rows + r;
      float* o = a.ws_out + row * HD + chunk * 8;
#pragma unroll
      for (int k = 0; k < 8; ++k) o[k] = acc[j][k];
      if (chunk == 0) {
        a.ws_ml[2 * row] = m_s[r];
        a.ws_ml[2 * row + 1] = l_s[r];
      }
    }
  }
}

// Block (merge item blockIdx.x, KV head blockIdx.y): out = sum_p O_p 2^(m_p - M) /
// sum_p l_p 2^(m_p - M), M = max_p m_p; partitions that saw nothing (m_p = -inf) weigh 0.
// Partition 0 holds position 0, visible to every row, so the denominator is >= 1.
template <int HD, typename Out>
__global__ void __launch_bounds__(kThreads)
    attention_merge_kernel(const MergeItem* items, int group, int n_kv, const float* ws_out,
                           const float* ws_ml, Out* out, int64_t ld_out) {
  const MergeItem it = items[blockIdx.x];
  const int kv_head = blockIdx.y, rows = it.m * group;
  const int64_t part_stride = static_cast<int64_t>(n_kv) * rows;
  for (int e = threadIdx.x; e < rows * HD; e += kThreads) {
    const int r = e / HD, d = e % HD;
    const int64_t row0 = static_cast<int64_t>(it.ws_row) + kv_head * rows + r;
    float m_max = -INFINITY;
    for (int p = 0; p < it.n_parts; ++p) m_max = fmaxf(m_max, ws_ml[2 * (row0 + p * part_stride)]);
    float num = 0.0f, den = 0.0f;
    for (int p = 0; p < it.n_parts; ++p) {
      const int64_t row = row0 + p * part_stride;
      const float m = ws_ml[2 * row];
      if (m == -INFINITY) continue;
      const float w = exp2f(m - m_max);
      den = fmaf(w, ws_ml[2 * row + 1], den);
      num = fmaf(w, ws_out[row * HD + d], num);
    }
    store(out + static_cast<int64_t>(it.t0 + r / group) * ld_out +
              static_cast<int64_t>(kv_head * group + r % group) * HD + d,
          num / den);
  }
}

}  // namespace shardserve::gpu::attention_kernels
