// Attention over one KV-cache block of f16 keys and values, for the query heads that share a KV
// head (grouped-query attention): the fast path of the Llama model's kFastest arithmetic.
//
// Keys are stored transposed within a block, key(p)[d] at kt[d * block_size + p], so that one
// 16-lane vector holds dimension d of 16 positions and the scores of 16 positions accumulate in
// the lanes of a register (no horizontal sums); values are stored row by row, value(p)[d] at
// v[p * head_dim + d].
//
// Arithmetic (the same bits for the scalar reference and the SIMD kernels, whatever the block
// or the number of positions):
//   score(g, p) = (s0 + s1) + (s2 + s3), s_j = the fma chain over d = j, j + 4, j + 8, ... of
//                 q[g][d] * key(p)[d], from 0;
//   out[g][d]   = the fma chain over positions in increasing order of w[g][p] * value(p)[d],
//                 continued across blocks from the caller's out.
// Queries, weights and sums are f32; keys and values are f16 converted exactly. Thread-safe,
// allocates nothing.
#pragma once

#include <cstdint>

#include "model/kernels/cpu/quant.h"

namespace shardserve::kernels {

// scores[g * ld + p] = score(g, p) for the n_heads queries q[g * head_dim ..] and positions
// p in [0, n) of a block of `block_size` positions (a multiple of 16; n <= block_size).
// Precondition: head_dim % 4 == 0.
using BlockScoresFn = void (*)(const float* q, int64_t n_heads, int64_t head_dim,
                               const uint16_t* kt, int64_t block_size, int64_t n, float* scores,
                               int64_t ld);

// out[g * head_dim + d] = fma(w[g * ld + p], value(p)[d], out[...]) for p = 0 .. n - 1 in order.
// Precondition: head_dim % 16 == 0.
using BlockWeightedSumFn = void (*)(const float* w, int64_t ld, int64_t n_heads, int64_t head_dim,
                                    const uint16_t* v, int64_t n, float* out);

struct AttentionF16Kernels {
  BlockScoresFn scores = nullptr;
  BlockWeightedSumFn weighted_sum = nullptr;
};

// The kernels of level `isa` (the scalar reference where it has none); never null members.
const AttentionF16Kernels& attention_f16_kernels(Isa isa = best_isa());

// Writes one position's key (head_dim floats) into a transposed key block as f16 (round to
// nearest even), at position p.
void store_key_transposed(const float* key, int64_t head_dim, int64_t block_size, int64_t p,
                          uint16_t* kt);

namespace internal {
const AttentionF16Kernels* attention_f16_avx512();  // null where the build lacks the level
}  // namespace internal

}  // namespace shardserve::kernels
