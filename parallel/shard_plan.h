// Which slice of each weight tensor a rank of a tensor-parallel group owns, for the transformer
// blocks every architecture here shares: the Llama-family decoder (grouped-query attention, an
// LM head) and the BERT encoder (one KV head per query head, no LM head: n_vocab = 0).
//
// The rules (Megatron-style, extended to uneven splits):
//   - attention: KV heads are split into tp contiguous groups as evenly as possible; a rank
//     owns its KV heads and the query heads that share them (n_heads / n_kv_heads each).
//     Q, K, V projections are column-parallel (the rank computes only its heads' rows);
//     the output projection is row-parallel (the rank multiplies its heads' columns) and the
//     group completes it from every rank's partial sums (see "Reduction order" below).
//   - feed-forward: the hidden_dim columns are split in units of `ffn_unit` (the quant block
//     size of the down projection, so each rank's slice of a row is whole blocks) so that every
//     rank does about the same projection work: a rank with more KV heads (when tp does not
//     divide them) gets fewer FFN columns. The up projections (gate and up) are
//     column-parallel, the down projection row-parallel, completed like the attention output.
//   - the LM head (decoders) is split by vocabulary rows, evenly in units of kVocabUnit rows (a
//     panel of the packed quant kernel); each rank computes its rows' logits and the group
//     gathers them. A logit is one whole row's dot product, so the split changes no bits.
//   - embeddings and norms are replicated.
//
// Worked example, SmolLM2-135M (9 query heads, 3 KV heads, head_dim 64, hidden_dim 1536, Q4_1
// blocks of 32) with tp = 2:
//   rank 0: KV heads [0, 2), query heads [0, 6), FFN columns [0, 672)
//   rank 1: KV heads [2, 3), query heads [6, 9), FFN columns [672, 1536)
// (a KV head's projections weigh as much as 5.3 units of 32 FFN columns: 2 * 64 * (3 + 1)
// against 3 * 32 multiply-adds per model dimension, so rank 0 gives up 2.67 of its 24 units).
// tp = 3 gives each rank one KV head, three query heads and 512 FFN columns. tp = 4 is an
// error: there are only 3 KV heads to split.
//
// Reduction order. A row-parallel product sums over the split dimension; splitting it across
// ranks changes the order of the floating-point additions, and the greedy output of a small
// model changes with it. So groups never sum "per rank": the split dimension is cut into
// fixed *reduction segments*, the union of the shard boundaries of every tp from 1 to
// max_tp, each segment's partial dot product is computed whole by the rank that owns it, and
// the partials are added in segment order on every rank. The result is the same bits for
// every tp. For SmolLM2 (max_tp 3): attention-out has 3 segments (one per KV head), the FFN
// has 4 (blocks [0, 16), [16, 21), [21, 32), [32, 48) of 32 columns: the cuts of tp 2 and 3).
//
// Pure arithmetic: no MPI, safe anywhere.
#pragma once

#include <cstdint>
#include <functional>
#include <vector>

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

// How [0, n_units) is split for a group of tp: part `rank`.
using SplitFn = std::function<Range(int tp, int rank)>;

// The segments of [0, n_units) for tp-invariant reduction: the union of the cuts that
// split(t, r) makes for every t in [1, max_tp], in order (split_evenly by default).
std::vector<Range> reduction_segments(int64_t n_units, int max_tp);
std::vector<Range> reduction_segments(int64_t n_units, int max_tp, const SplitFn& split);

// One rank's part of the model: the heads, FFN columns and LM head rows it owns.
struct TransformerShard {
  int rank = 0;
  int tp = 1;
  Range kv_heads;
  Range q_heads;
  Range ffn;                          // columns of the feed-forward hidden dimension
  Range vocab;                        // rows of the LM head (empty when the shape has no n_vocab)
  std::vector<Range> vocab_per_rank;  // every rank's `vocab`, in rank order
  // This rank's reduction segments, as global column ranges of the attention-output (wo) and
  // FFN-down inputs, in order; and how many segments each rank of the group owns.
  std::vector<Range> attn_segments, ffn_segments;
  std::vector<int> attn_segments_per_rank, ffn_segments_per_rank;
};

// The sizes of a model that the plan splits.
struct TransformerShape {
  int64_t n_heads = 0;
  int64_t n_kv_heads = 0;
  int64_t hidden_dim = 0;
  int64_t ffn_unit = 1;  // FFN split granularity (quantized: the block size of ffn_down's type)
  int64_t head_dim = 1;  // columns per attention head
  int max_tp = 0;        // largest tp the reduction segments serve (0: n_kv_heads)
  int64_t n_vocab = 0;   // LM head rows (0: the model has no LM head)
};

// Rows of the LM head per vocabulary split unit: the height of a packed quant panel.
inline constexpr int64_t kVocabUnit = 16;

// LM head rows [begin, end) of rank `rank` in a group of tp: whole units of kVocabUnit
// (the last rank's part may end at n_vocab mid-unit), as even as whole units allow.
Range split_vocab(int64_t n_vocab, int tp, int rank);

// FFN units (of shape.ffn_unit columns) of rank `rank` in a group of `tp`: contiguous, at least
// one per rank, cut where the projection work (attention heads plus FFN columns) is closest to
// even. Precondition: the shape passes plan_transformer_shard's checks for this tp.
Range split_ffn(const TransformerShape& shape, int tp, int rank);

// The shard of rank `rank` in a group of `tp`; an Error (with the numbers) when tp does not
// fit the model: tp < 1, rank outside [0, tp), tp > n_kv_heads, or fewer FFN units than tp.
Result<TransformerShard> plan_transformer_shard(const TransformerShape& shape, int tp, int rank);

}  // namespace shardserve
