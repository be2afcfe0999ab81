#include "model/cuda/attention.cuh"

#include "base/check.h"
#include "model/cuda/block_reduce.cuh"
#include "model/cuda/cuda_check.h"

namespace shardserve::gpu {
namespace {

constexpr int kWriteThreads = 256;
constexpr int kWarps = 4;
constexpr int kAttnThreads = kWarps * 32;
constexpr int kMaxHeadDim = 256;
constexpr int kMaxPerLane = kMaxHeadDim / 32;

__device__ inline void store(float* p, float v) {
  *p = v;
}
__device__ inline void store(__half* p, float v) {
  *p = __float2half_rn(v);
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

// Block (token t, query head h), blockIdx.x = t * n_q_heads + h.
template <typename Out>
__global__ void __launch_bounds__(kAttnThreads)
    attention_kernel(const float* q, int64_t ldq, int64_t n_q_heads, PagedKvLayer cache,
                     TokenSlots slots, float scale, Out* out, int64_t ld_out) {
  const int64_t t = blockIdx.x / n_q_heads, h = blockIdx.x % n_q_heads;
  const int64_t hd = cache.head_dim, per_lane = hd / 32;
  const int64_t kv_head = h / (n_q_heads / cache.n_kv_heads);
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;

  // This lane's elements d = lane + 32 * e of the query, rounded to f16 like the keys.
  float qv[kMaxPerLane];
  const float* qrow = q + t * ldq + h * hd;
  for (int64_t e = 0; e < per_lane; ++e) qv[e] = __half2float(__float2half_rn(qrow[lane + 32 * e]));

  // Online softmax over this warp's positions p = warp, warp + kWarps, ...
  float m = -INFINITY, l = 0.0f, acc[kMaxPerLane];
  for (int64_t e = 0; e < per_lane; ++e) acc[e] = 0.0f;
  const int64_t n_ctx = static_cast<int64_t>(slots.positions[t]) + 1;
  const int32_t* table = slots.tables + slots.table_begin[t];
  for (int64_t p = warp; p < n_ctx; p += kWarps) {
    const int64_t at =
        slot_offset(cache, table[p / cache.block_size], kv_head, p % cache.block_size);
    const __half* key = cache.keys + at;
    const __half* value = cache.values + at;
    float dot = 0.0f;
    for (int64_t e = 0; e < per_lane; ++e) dot = fmaf(__half2float(key[lane + 32 * e]), qv[e], dot);
    const float s = warp_sum(dot) * scale;
    const float m_new = fmaxf(m, s);
    const float correction = expf(m - m_new);  // 0 on the first position (m = -inf)
    const float w = expf(s - m_new);
    l = l * correction + w;
    for (int64_t e = 0; e < per_lane; ++e)
      acc[e] = fmaf(w, __half2float(value[lane + 32 * e]), acc[e] * correction);
    m = m_new;
  }

  // Merge the warps: out = sum_w acc_w e^(m_w - M) / sum_w l_w e^(m_w - M), M = max_w m_w.
  __shared__ float warp_m[kWarps], warp_l[kWarps];
  __shared__ float warp_acc[kWarps][kMaxHeadDim];
  if (lane == 0) {
    warp_m[warp] = m;
    warp_l[warp] = l;
  }
  for (int64_t e = 0; e < per_lane; ++e) warp_acc[warp][lane + 32 * e] = acc[e];
  __syncthreads();
  float max_m = -INFINITY;
  for (int w = 0; w < kWarps; ++w) max_m = fmaxf(max_m, warp_m[w]);
  float weight[kWarps], total = 0.0f;
  for (int w = 0; w < kWarps; ++w) {
    weight[w] = warp_m[w] == -INFINITY ? 0.0f : expf(warp_m[w] - max_m);  // idle warps: 0
    total += warp_l[w] * weight[w];
  }
  Out* o = out + t * ld_out + h * hd;
  for (int64_t d = threadIdx.x; d < hd; d += kAttnThreads) {
    float sum = 0.0f;
    for (int w = 0; w < kWarps; ++w) sum += warp_acc[w][d] * weight[w];
    store(o + d, sum / total);
  }
}

void check_shape(const PagedKvLayer& c) {
  SS_CHECK(c.head_dim > 0 && c.head_dim % 32 == 0 && c.head_dim <= kMaxHeadDim,
           "CUDA attention needs head_dim a multiple of 32, at most 256");
  SS_CHECK(c.n_kv_heads > 0 && c.block_size > 0);
}

template <typename Out>
void launch_attention(const float* q, int64_t ldq, int64_t n_q_heads, const PagedKvLayer& cache,
                      const TokenSlots& slots, float scale, Out* out, int64_t ld_out,
                      cudaStream_t stream) {
  check_shape(cache);
  SS_CHECK(n_q_heads > 0 && n_q_heads % cache.n_kv_heads == 0,
           "query heads must be a multiple of the KV heads");
  SS_CHECK(ldq >= n_q_heads * cache.head_dim && ld_out >= n_q_heads * cache.head_dim);
  SS_CHECK(slots.n_tokens >= 0 && slots.n_tokens * n_q_heads <= 0x7fffffff);
  if (slots.n_tokens == 0) return;
  attention_kernel<Out>
      <<<static_cast<unsigned>(slots.n_tokens * n_q_heads), kAttnThreads, 0, stream>>>(
          q, ldq, n_q_heads, cache, slots, scale, out, ld_out);
  CUDA_CHECK_LAUNCH("attention");
}

}  // namespace

void kv_write(const float* k, const float* v, int64_t ld, const PagedKvLayer& cache,
              const TokenSlots& slots, cudaStream_t stream) {
  check_shape(cache);
  SS_CHECK(ld >= cache.n_kv_heads * cache.head_dim && slots.n_tokens >= 0);
  const int64_t n = slots.n_tokens * cache.n_kv_heads * cache.head_dim;
  if (n == 0) return;
  const int64_t blocks = (n + kWriteThreads - 1) / kWriteThreads;
  SS_CHECK(blocks <= 0x7fffffff);
  kv_write_kernel<<<static_cast<unsigned>(blocks), kWriteThreads, 0, stream>>>(k, v, ld, cache,
                                                                               slots);
  CUDA_CHECK_LAUNCH("kv_write");
}

void attention(const float* q, int64_t ldq, int64_t n_q_heads, const PagedKvLayer& cache,
               const TokenSlots& slots, float scale, float* out, int64_t ld_out,
               cudaStream_t stream) {
  launch_attention(q, ldq, n_q_heads, cache, slots, scale, out, ld_out, stream);
}

void attention(const float* q, int64_t ldq, int64_t n_q_heads, const PagedKvLayer& cache,
               const TokenSlots& slots, float scale, __half* out, int64_t ld_out,
               cudaStream_t stream) {
  launch_attention(q, ldq, n_q_heads, cache, slots, scale, out, ld_out, stream);
}

}  // namespace shardserve::gpu
