#include "model/cuda/attention.cuh"

#include <algorithm>
#include <climits>
#include <string>

#include "base/check.h"
#include "model/cuda/attention_kernels.cuh"
#include "model/cuda/cuda_check.h"

namespace shardserve::gpu {
namespace {

using namespace attention_kernels;  // NOLINT: the kernels and their layout

constexpr int kWriteThreads = 256;

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
