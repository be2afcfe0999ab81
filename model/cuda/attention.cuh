// The paged KV cache on the device, and attention over it for prefill and decode alike.
//
// Cache layout: the CPU KvCache's (model/kv_cache/kv_cache.h), f16, per layer
//   [block][kv_head][position in block][head_dim]
// for keys and, separately, for values. A sequence's block table maps its logical block
// i = pos / block_size to a physical block.
//
// A step's tokens come from any mix of prefill chunks and decode tokens. For each token t the
// caller provides (device arrays of n_tokens entries):
//   positions[t]    its position in its sequence,
//   table_begin[t]  where its sequence's block table starts in `tables` (the step's tables,
//                   concatenated).
// kv_write stores each token's K and V at its position; attention then lets token t of a
// chunk attend to positions [0, positions[t]] of its sequence: causal within a prefill chunk,
// because the chunk's own keys were written first. Preconditions (not checked on the device):
// every position lies inside the sequence's table, every table entry is a valid block.
//
// Arithmetic: q is rounded to f16 before the products with the f16 keys (as the CPU path and
// llama.cpp do); scores are (K.q) * scale, kept in base-2 units (times log2 e) so the softmax
// uses exp2f; the softmax is computed online in f32 (running max and sum per query row), the
// weighted sum of V accumulates in f32. Results agree with the CPU path to float rounding, not
// bit for bit (the CPU also rounds the softmax weights to f16). They do not depend on the
// order of work on the device: each output is computed by a fixed sequence of operations.
//
// Kernel design (attention_kernels.cuh): one thread block takes a query tile, i.e. m consecutive
// tokens of one sequence times the group of G = n_q_heads / n_kv_heads query heads that share a KV
// head, so every KV head is read once for all its query heads (a decode token is a tile of one
// token: G rows). The block walks its context range in tiles of keys staged in shared memory
// with 16-byte loads (flash-attention-2 on CUDA cores: scores, online softmax and the weighted
// V sum per tile). A long context is split into partitions that run as separate blocks
// (flash-decoding); a second kernel merges their partial results with the log-sum-exp rescale.
// Tiles, partitions and the merge are planned once per step on the host (PagedAttention::plan).
//
// Supported: head_dim 64, 128 or 256 (attention_supports_head_dim), n_q_heads a multiple of
// n_kv_heads with G <= 64 (G <= 32 for head_dim 256), K/V pointers 16-byte aligned.
// kv_write: 256 threads, one per element.
#pragma once

#include <cuda_fp16.h>
#include <cuda_runtime_api.h>

#include <cstdint>
#include <vector>

#include "model/cuda/attention_plan.h"
#include "model/cuda/device.h"

namespace shardserve::gpu {

// One layer of the cache (the layer's slab of the whole cache's storage).
struct PagedKvLayer {
  __half* keys = nullptr;    // [n_blocks][n_kv_heads][block_size][head_dim]
  __half* values = nullptr;  // same layout
  int64_t n_kv_heads = 0;
  int64_t head_dim = 0;
  int64_t block_size = 16;
};

// Where each token of the step sits (device arrays, see above).
struct TokenSlots {
  const int32_t* positions = nullptr;    // [n_tokens]
  const int32_t* table_begin = nullptr;  // [n_tokens]
  const int32_t* tables = nullptr;       // concatenated block tables
  int64_t n_tokens = 0;
};

// Whether the attention kernels are built for this head_dim (64, 128, 256). A model loader
// should refuse other values with an error naming them.
bool attention_supports_head_dim(int64_t head_dim);
// Largest number of query heads per KV head the kernels take for this head_dim (0 if the
// head_dim is unsupported).
int64_t attention_max_group(int64_t head_dim);

// Stores K and V of every token: token t's heads at k + t * ld, v + t * ld (floats,
// n_kv_heads * head_dim each), rounded to f16.
void kv_write(const float* k, const float* v, int64_t ld, const PagedKvLayer& cache,
              const TokenSlots& slots, cudaStream_t stream);

// Attention for a whole step, planned once on the host and run per layer:
//
//   PagedAttention attn;                                   // one per model, beside its RunState
//   attn.plan(host_positions, host_table_begin, n, nq, nkv, head_dim, stream);  // per step
//   for each layer: kv_write(...); attn.run(q, ldq, cache, slots, scale, out, ld_out, stream);
//
// plan() reads host copies of the step's positions and table_begin (the same values as the
// device arrays in `slots`): consecutive tokens with the same table_begin and consecutive
// positions form a segment (a prefill chunk, or a decode token), cut into query tiles; it
// uploads the tiles (asynchronously, on `stream`) and sizes a workspace for split contexts.
// Every run() until the next plan() uses that plan, so run() must be given slots with those
// same tokens. Owns device memory (the tile list, and a workspace for split contexts of at most
// 64 MiB with the automatic partition; plan() synchronizes `stream` before it grows either).
// Not thread-safe. Splitting and partition sizes: model/cuda/attention_plan.h.
// Failure: shapes the kernels cannot take abort with a message (SS_CHECK); check
// attention_supports_head_dim() at load.
class PagedAttention {
 public:
  using Options = AttentionPlanOptions;

  PagedAttention() = default;
  explicit PagedAttention(const Options& options) : options_(options) {}

  void plan(const int32_t* positions, const int32_t* table_begin, int64_t n_tokens,
            int64_t n_q_heads, int64_t n_kv_heads, int64_t head_dim, cudaStream_t stream);

  // out[t][h] = softmax_p((K_p . q[t][h]) * scale) weighted sum of V_p over p in
  // [0, positions[t]], for each of the planned n_q_heads query heads. q token rows at
  // q + t * ldq, out token rows at out + t * ld_out (head h at + h * head_dim).
  void run(const float* q, int64_t ldq, const PagedKvLayer& cache, const TokenSlots& slots,
           float scale, float* out, int64_t ld_out, cudaStream_t stream) const;
  void run(const float* q, int64_t ldq, const PagedKvLayer& cache, const TokenSlots& slots,
           float scale, __half* out, int64_t ld_out, cudaStream_t stream) const;

  // The last plan (for tests and benchmarks): attention blocks per run = items * n_kv_heads.
  const AttentionPlan& last_plan() const { return plan_; }

 private:
  template <typename Out>
  void run_impl(const float* q, int64_t ldq, const PagedKvLayer& cache, const TokenSlots& slots,
                float scale, Out* out, int64_t ld_out, cudaStream_t stream) const;

  Options options_;
  int sm_count_ = 0;  // of the device current at the first plan()
  AttentionPlan plan_;
  DeviceBuffer<int32_t> items_;    // plan_.items, then plan_.merges
  DeviceBuffer<float> workspace_;  // [rows][head_dim] partial outputs, then [rows][2] max, sum
  bool planned_ = false;
  int64_t n_tokens_ = 0, n_q_heads_ = 0, n_kv_heads_ = 0, head_dim_ = 0;
};

// Attention without a plan: every token is its own tile over its whole context (no split), so
// each KV head is still read once per token for its query heads, but a prefill chunk re-reads
// its prefix per token and a long decode context runs in one block per KV head. Same result as
// PagedAttention::run; kept for callers that have no host copy of the positions.
void attention(const float* q, int64_t ldq, int64_t n_q_heads, const PagedKvLayer& cache,
               const TokenSlots& slots, float scale, float* out, int64_t ld_out,
               cudaStream_t stream);
void attention(const float* q, int64_t ldq, int64_t n_q_heads, const PagedKvLayer& cache,
               const TokenSlots& slots, float scale, __half* out, int64_t ld_out,
               cudaStream_t stream);

}  // namespace shardserve::gpu
