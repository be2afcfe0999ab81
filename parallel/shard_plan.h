// Which slice of each weight tensor a rank of a tensor-parallel group owns.
//
// The rules (Megatron-style, extended to uneven splits):
//   - attention: KV heads are split into tp contiguous groups as evenly as possible; a rank
//     owns its KV heads and the query heads that share them (n_heads / n_kv_heads each).
//     Q, K, V projections are column-parallel (the rank computes only its heads' rows);
//     the output projection is row-parallel (the rank multiplies its heads' columns) and the
//     partial results are summed across ranks (all-reduce).
//   - feed-forward: the hidden_dim columns are split in units of `ffn_unit` (the quant block
//     size of the down projection, so each rank's slice of a row is whole blocks); gate and
//     up are column-parallel, down is row-parallel followed by an all-reduce.
//   - embeddings, norms and the LM head are replicated.
//
// Worked example, SmolLM2-135M (9 query heads, 3 KV heads, head_dim 64, hidden_dim 1536, Q4_1
// blocks of 32) with tp = 2:
//   rank 0: KV heads [0, 2), query heads [0, 6), FFN columns [0, 768)
//   rank 1: KV heads [2, 3), query heads [6, 9), FFN columns [768, 1536)
// tp = 3 gives each rank one KV head, three query heads and 512 FFN columns. tp = 4 is an
// error: there are only 3 KV heads to split.
//
// Pure arithmetic: no MPI, safe anywhere.
#pragma once

#include <cstdint>

#include "base/status.h"

namespace shardserve {

struct Range {
  int64_t begin = 0;
  int64_t end = 0;
  int64_t size() const { return end - begin; }
  bool operator==(const Range&) const = default;
};

// Part `rank` of [0, n) split into tp contiguous parts whose sizes differ by at most one,
// larger parts first.
Range split_evenly(int64_t n, int tp, int rank);

struct LlamaShard {
  int rank = 0;
  int tp = 1;
  Range kv_heads;
  Range q_heads;
  Range ffn;  // columns of the feed-forward hidden dimension
};

struct LlamaShape {
  int64_t n_heads = 0;
  int64_t n_kv_heads = 0;
  int64_t hidden_dim = 0;
  int64_t ffn_unit = 1;  // FFN split granularity (block size of ffn_down's type)
};

// The shard of rank `rank` in a group of `tp`; an Error (with the numbers) when tp does not
// fit the model: tp < 1, rank outside [0, tp), tp > n_kv_heads, or fewer FFN units than tp.
Result<LlamaShard> plan_llama_shard(const LlamaShape& shape, int tp, int rank);

}  // namespace shardserve
