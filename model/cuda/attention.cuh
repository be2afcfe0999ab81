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
// llama.cpp do); scores are (K.q) * scale; the softmax is computed online in f32 (running max
// and sum, one pass over the cache) with the device's expf. Results agree with the CPU path
// to float rounding, not bit for bit (the CPU also rounds the softmax weights to f16).
//
// Launch: attention runs one block of 128 threads (4 warps) per (token, query head); each warp
// takes every 4th position, lanes split head_dim; warps are merged through shared memory.
// Requires head_dim % 32 == 0 and head_dim <= 256, n_q_heads % n_kv_heads == 0 (query head h
// reads KV head h / (n_q_heads / n_kv_heads)). kv_write: 256 threads, one per element.
#pragma once

#include <cuda_fp16.h>
#include <cuda_runtime_api.h>

#include <cstdint>

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

// Stores K and V of every token: token t's heads at k + t * ld, v + t * ld (floats,
// n_kv_heads * head_dim each), rounded to f16.
void kv_write(const float* k, const float* v, int64_t ld, const PagedKvLayer& cache,
              const TokenSlots& slots, cudaStream_t stream);

// out[t][h] = softmax_p((K_p . q[t][h]) * scale) weighted sum of V_p over p in
// [0, positions[t]], for each of n_q_heads local query heads. q token rows at q + t * ldq,
// out token rows at out + t * ld_out (head h at + h * head_dim).
void attention(const float* q, int64_t ldq, int64_t n_q_heads, const PagedKvLayer& cache,
               const TokenSlots& slots, float scale, float* out, int64_t ld_out,
               cudaStream_t stream);
void attention(const float* q, int64_t ldq, int64_t n_q_heads, const PagedKvLayer& cache,
               const TokenSlots& slots, float scale, __half* out, int64_t ld_out,
               cudaStream_t stream);

}  // namespace shardserve::gpu
