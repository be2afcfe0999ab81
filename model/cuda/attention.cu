#include "model/cuda/attention.cuh"

#include <algorithm>
#include <climits>
#include <string>

#include "base/check.h"
#include "model/cuda/block_reduce.cuh"
#include "model/cuda/cuda_check.h"

namespace shardserve::gpu {
namespace {

constexpr int kWriteThreads = 256;
constexpr int kThreads = 128;  // attention and merge blocks: 4 warps
constexpr int kWarps = kThreads / 32;
constexpr float kLog2e = 1.4426950408889634f;

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

__device__ inline void half8_to_float(const uint4& u, float (&f)[8]) {
  const __half2* h = reinterpret_cast<const __half2*>(&u);
#pragma unroll
  for (int i = 0; i < 4; ++i) {
    const float2 x = __half22float2(h[i]);
    f[2 * i] = x.x;
    f[2 * i + 1] = x.y;
  }
}

// Offset of (block, kv head, position in block) in a layer's slab.
__device__ inline int64_t slot_offset(const PagedKvLayer& c, int32_t block, int64_t head,
                                      int64_t offset) {
  return ((static_cast<int64_t>(block) * c.n_kv_heads + head) * c.block_size + offset) * c.head_dim;
}

__global__ void __launch_bounds__(kWriteThreads)
    kv_write_kernel(const float* k, const float* v, int64_t ld, PagedKvLayer cache,
                    TokenSlots slots) {
  const int64_t per_token = cache.n_kv_heads * cache.head_dim;
  const int64_t id = blockIdx.x * static_cast<int64_t>(kWriteThreads) + threadIdx.x;
  if (id >= slots.n_tokens * per_token) return;
  const int64_t t = id / per_token, e = id % per_token;
  const int64_t head = e / cache.head_dim, d = e % cache.head_dim;
  const int64_t pos = slots.positions[t];
  const int32_t block = slots.tables[slots.table_begin[t] + pos / cache.block_size];
  const int64_t at = slot_offset(cache, block, head, pos % cache.block_size) + d;
  cache.keys[at] = __float2half_rn(k[t * ld + e]);
  cache.values[at] = __float2half_rn(v[t * ld + e]);
}

// Block (work item blockIdx.x, KV head blockIdx.y); see the header for the design. Per tile of
// kKeys positions: stage K and V (16-byte loads, zeros past the range), scores into shared
// memory, online softmax per row (one warp per row), weighted V into registers.
template <int HD, typename Out>
__global__ void __launch_bounds__(kThreads) attention_kernel(AttentionArgs<Out> a) {
  using L = Layout<HD>;
  extern __shared__ __align__(16) unsigned char smem[];
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
        kv = *reinterpret_cast<const uint4*>(a.cache.keys + at);
        vv = *reinterpret_cast<const uint4*>(a.cache.values + at);
      }
      *reinterpret_cast<uint4*>(k_s + n * L::kKvStride + c * 8) = kv;
      *reinterpret_cast<uint4*>(v_s + n * L::kKvStride + c * 8) = vv;
    }
    __syncthreads();

    // Scores s[r][key] = (K_key . q_r) * scale * log2 e, -inf where masked (past c1, or past
    // the row's own position: causal). A warp shares its row group, so q reads broadcast.
    {
      const int p = p0 + key;
      const uint4* krow = reinterpret_cast<const uint4*>(k_s + key * L::kKvStride);
      for (int rb = key_group; rb < rows; rb += 8 * L::kKeyGroups) {
        float s[8];
#pragma unroll
        for (int j = 0; j < 8; ++j) s[j] = 0.0f;
#pragma unroll 2
        for (int c = 0; c < L::kChunks; ++c) {
          float kf[8];
          half8_to_float(krow[c], kf);
#pragma unroll
          for (int j = 0; j < 8; ++j) {
            const int r = rb + j * L::kKeyGroups;  // < kRows by the static_assert
            if (r < rows) {
              float qf[8];
              half8_to_float(reinterpret_cast<const uint4*>(q_s + r * HD)[c], qf);
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
      half8_to_float(reinterpret_cast<const uint4*>(v_s + n * L::kKvStride)[chunk], vf);
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

int64_t max_rows(int64_t head_dim) {
  switch (head_dim) {
    case 64:
      return Config<64>::kRows;
    case 128:
      return Config<128>::kRows;
    case 256:
      return Config<256>::kRows;
    default:
      return 0;
  }
}

// Aborts with file:line and the message unless `ok` (a shape the kernels cannot take is a
// programming error: the loader checks attention_supports_head_dim and the group size).
#define SS_ATTN_CHECK(ok, message)                      \
  do {                                                  \
    if (!(ok)) cuda_fatal(__FILE__, __LINE__, message); \
  } while (0)

void check_shapes(const PagedKvLayer& c, int64_t n_q_heads) {
  SS_ATTN_CHECK(attention_supports_head_dim(c.head_dim), "CUDA attention: head_dim " +
                                                             std::to_string(c.head_dim) +
                                                             " is not supported (64, 128 or 256)");
  SS_CHECK(c.n_kv_heads > 0 && c.n_kv_heads <= 65535 && c.block_size > 0);
  SS_CHECK(n_q_heads > 0 && n_q_heads % c.n_kv_heads == 0,
           "query heads must be a multiple of the KV heads");
  SS_ATTN_CHECK(n_q_heads / c.n_kv_heads <= max_rows(c.head_dim),
                "CUDA attention: " + std::to_string(n_q_heads / c.n_kv_heads) +
                    " query heads per KV head; at most " + std::to_string(max_rows(c.head_dim)) +
                    " at head_dim " + std::to_string(c.head_dim));
  SS_CHECK(reinterpret_cast<uintptr_t>(c.keys) % 16 == 0 &&
               reinterpret_cast<uintptr_t>(c.values) % 16 == 0,
           "CUDA attention: K and V must be 16-byte aligned");
}

template <int HD, typename Out>
void launch_hd(const AttentionArgs<Out>& args, int64_t n_items, const MergeItem* merges,
               int64_t n_merges, cudaStream_t stream) {
  using L = Layout<HD>;
  const int n_kv = static_cast<int>(args.cache.n_kv_heads);
  // Above the 48 KiB default: opt in (per device and function; cheap, so every launch).
  CUDA_CHECK(cudaFuncSetAttribute(attention_kernel<HD, Out>,
                                  cudaFuncAttributeMaxDynamicSharedMemorySize, L::kSmemBytes));
  attention_kernel<HD, Out><<<dim3(static_cast<unsigned>(n_items), static_cast<unsigned>(n_kv)),
                              kThreads, L::kSmemBytes, stream>>>(args);
  CUDA_CHECK_LAUNCH("attention");
  if (n_merges == 0) return;
  attention_merge_kernel<HD, Out>
      <<<dim3(static_cast<unsigned>(n_merges), static_cast<unsigned>(n_kv)), kThreads, 0, stream>>>(
          merges, args.group, n_kv, args.ws_out, args.ws_ml, args.out, args.ld_out);
  CUDA_CHECK_LAUNCH("attention_merge");
}

template <typename Out>
void launch(const AttentionArgs<Out>& args, int64_t n_items, const MergeItem* merges,
            int64_t n_merges, cudaStream_t stream) {
  SS_CHECK(n_items <= INT_MAX && n_merges <= INT_MAX);
  if (n_items == 0) return;
  switch (args.cache.head_dim) {
    case 64:
      return launch_hd<64>(args, n_items, merges, n_merges, stream);
    case 128:
      return launch_hd<128>(args, n_items, merges, n_merges, stream);
    case 256:
      return launch_hd<256>(args, n_items, merges, n_merges, stream);
    default:
      SS_CHECK(false, "unsupported head_dim");
  }
}

template <typename Out>
void attention_without_plan(const float* q, int64_t ldq, int64_t n_q_heads,
                            const PagedKvLayer& cache, const TokenSlots& slots, float scale,
                            Out* out, int64_t ld_out, cudaStream_t stream) {
  check_shapes(cache, n_q_heads);
  SS_CHECK(ldq >= n_q_heads * cache.head_dim && ld_out >= n_q_heads * cache.head_dim);
  SS_CHECK(slots.n_tokens >= 0);
  const AttentionArgs<Out> args{q,
                                ldq,
                                static_cast<int>(n_q_heads / cache.n_kv_heads),
                                cache,
                                slots,
                                nullptr,
                                scale * kLog2e,
                                out,
                                ld_out,
                                nullptr,
                                nullptr};
  launch(args, slots.n_tokens, nullptr, 0, stream);
}

}  // namespace

bool attention_supports_head_dim(int64_t head_dim) {
  return max_rows(head_dim) > 0;
}

int64_t attention_max_group(int64_t head_dim) {
  return max_rows(head_dim);
}

void kv_write(const float* k, const float* v, int64_t ld, const PagedKvLayer& cache,
              const TokenSlots& slots, cudaStream_t stream) {
  SS_CHECK(cache.head_dim > 0 && cache.n_kv_heads > 0 && cache.block_size > 0);
  SS_CHECK(ld >= cache.n_kv_heads * cache.head_dim && slots.n_tokens >= 0);
  const int64_t n = slots.n_tokens * cache.n_kv_heads * cache.head_dim;
  if (n == 0) return;
  const int64_t blocks = (n + kWriteThreads - 1) / kWriteThreads;
  SS_CHECK(blocks <= 0x7fffffff);
  kv_write_kernel<<<static_cast<unsigned>(blocks), kWriteThreads, 0, stream>>>(k, v, ld, cache,
                                                                               slots);
  CUDA_CHECK_LAUNCH("kv_write");
}

void PagedAttention::plan(const int32_t* positions, const int32_t* table_begin, int64_t n_tokens,
                          int64_t n_q_heads, int64_t n_kv_heads, int64_t head_dim,
                          cudaStream_t stream) {
  PagedKvLayer shape;
  shape.n_kv_heads = n_kv_heads;
  shape.head_dim = head_dim;
  check_shapes(shape, n_q_heads);
  SS_CHECK(n_tokens >= 0 && n_tokens <= INT32_MAX);
  if (sm_count_ == 0) {
    int device = 0;
    CUDA_CHECK(cudaGetDevice(&device));
    CUDA_CHECK(cudaDeviceGetAttribute(&sm_count_, cudaDevAttrMultiProcessorCount, device));
  }
  const int64_t group = n_q_heads / n_kv_heads;
  AttentionPlanShape plan_shape;
  plan_shape.group = group;
  plan_shape.tile_tokens = max_rows(head_dim) / group;
  plan_shape.n_kv_heads = n_kv_heads;
  plan_shape.head_dim = head_dim;
  plan_shape.target_blocks = 2 * static_cast<int64_t>(sm_count_);
  plan_ = plan_attention(positions, table_begin, n_tokens, plan_shape, options_);

  // Device copies; growing frees memory the previous step's kernels may still read.
  const size_t item_ints = plan_.items.size() * kWorkInts + plan_.merges.size() * kMergeInts;
  const size_t ws_floats = static_cast<size_t>(plan_.workspace_rows * (head_dim + 2));
  if (items_.size() < item_ints || workspace_.size() < ws_floats) {
    CUDA_CHECK(cudaStreamSynchronize(stream));
    if (items_.size() < item_ints) items_.ensure(item_ints * 3 / 2 + 64);
    if (workspace_.size() < ws_floats) workspace_.ensure(ws_floats * 3 / 2);
  }
  if (!plan_.items.empty())
    CUDA_CHECK(cudaMemcpyAsync(items_.data(), plan_.items.data(),
                               plan_.items.size() * sizeof(WorkItem), cudaMemcpyHostToDevice,
                               stream));
  if (!plan_.merges.empty())
    CUDA_CHECK(cudaMemcpyAsync(items_.data() + plan_.items.size() * kWorkInts, plan_.merges.data(),
                               plan_.merges.size() * sizeof(MergeItem), cudaMemcpyHostToDevice,
                               stream));
  planned_ = true;
  n_tokens_ = n_tokens;
  n_q_heads_ = n_q_heads;
  n_kv_heads_ = n_kv_heads;
  head_dim_ = head_dim;
}

template <typename Out>
void PagedAttention::run_impl(const float* q, int64_t ldq, const PagedKvLayer& cache,
                              const TokenSlots& slots, float scale, Out* out, int64_t ld_out,
                              cudaStream_t stream) const {
  SS_CHECK(planned_, "PagedAttention::run before plan");
  SS_CHECK(
      cache.n_kv_heads == n_kv_heads_ && cache.head_dim == head_dim_ && slots.n_tokens == n_tokens_,
      "PagedAttention::run: the cache or the tokens differ from the plan");
  check_shapes(cache, n_q_heads_);
  SS_CHECK(ldq >= n_q_heads_ * head_dim_ && ld_out >= n_q_heads_ * head_dim_);
  const int64_t n_items = static_cast<int64_t>(plan_.items.size());
  float* ws_out = workspace_.data();
  float* ws_ml = ws_out + plan_.workspace_rows * head_dim_;
  const AttentionArgs<Out> args{q,
                                ldq,
                                static_cast<int>(n_q_heads_ / n_kv_heads_),
                                cache,
                                slots,
                                reinterpret_cast<const WorkItem*>(items_.data()),
                                scale * kLog2e,
                                out,
                                ld_out,
                                ws_out,
                                ws_ml};
  launch(args, n_items, reinterpret_cast<const MergeItem*>(items_.data() + n_items * kWorkInts),
         static_cast<int64_t>(plan_.merges.size()), stream);
}

void PagedAttention::run(const float* q, int64_t ldq, const PagedKvLayer& cache,
                         const TokenSlots& slots, float scale, float* out, int64_t ld_out,
                         cudaStream_t stream) const {
  run_impl(q, ldq, cache, slots, scale, out, ld_out, stream);
}

void PagedAttention::run(const float* q, int64_t ldq, const PagedKvLayer& cache,
                         const TokenSlots& slots, float scale, __half* out, int64_t ld_out,
                         cudaStream_t stream) const {
  run_impl(q, ldq, cache, slots, scale, out, ld_out, stream);
}

void attention(const float* q, int64_t ldq, int64_t n_q_heads, const PagedKvLayer& cache,
               const TokenSlots& slots, float scale, float* out, int64_t ld_out,
               cudaStream_t stream) {
  attention_without_plan(q, ldq, n_q_heads, cache, slots, scale, out, ld_out, stream);
}

void attention(const float* q, int64_t ldq, int64_t n_q_heads, const PagedKvLayer& cache,
               const TokenSlots& slots, float scale, __half* out, int64_t ld_out,
               cudaStream_t stream) {
  attention_without_plan(q, ldq, n_q_heads, cache, slots, scale, out, ld_out, stream);
}

}  // namespace shardserve::gpu
