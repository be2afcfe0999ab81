// Which slice of each weight tensor a rank of a tensor-parallel group owns, for the transformer
// blocks every architecture here shares: the Llama-family decoder (grouped-query attention, an
// LM head) and the BERT encoder (one KV head per query head, no LM head: n_vocab = 0).
//
// The rules (Megatron-style, extended to uneven splits and, as vLLM does, to more ranks than
// KV heads):
//   - attention, tp <= n_kv_heads: KV heads are split into tp contiguous groups as evenly as
//     possible; a rank owns its KV heads and the query heads that share them (n_heads /
//     n_kv_heads each).
//   - attention, tp > n_kv_heads (KV replication; needs tp <= n_heads): the *query* heads are
//     split evenly instead, and a rank owns the KV heads its query heads use,
//     [q.begin / group, (q.end - 1) / group + 1) with group = n_heads / n_kv_heads. A KV head
//     whose query heads land on several ranks is held by each of them: they compute the same
//     K and V rows from the same weights and inputs and cache them, the same bits everywhere.
//     A rank may hold two KV heads partially: 8 query heads, 2 KV heads, tp 3 gives query
//     heads [0, 3) [3, 6) [6, 8) and KV heads [0, 1) [0, 2) [1, 2).
//   - either way, Q, K, V projections are column-parallel (the rank computes only its heads'
//     rows); the output projection is row-parallel (the rank multiplies its query heads'
//     columns) and the group completes it from every rank's partial sums (see "Reduction
//     order" below). Query heads are never replicated, so every output column has one owner.
//   - feed-forward: the hidden_dim columns are split in units of `ffn_unit` (the quant block
//     size of the down projection, so each rank's slice of a row is whole blocks) so that every
//     rank does about the same projection work: a rank with more heads (when tp does not divide
//     them, or when it holds a replicated KV head) gets fewer FFN columns. The up projections
//     (gate and up) are column-parallel, the down projection row-parallel, completed like the
//     attention output.
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
// error: max_tp is 3 (see default_max_tp).
//
// Worked example with replication, Gemma 3 270M (4 query heads, 1 KV head, head_dim 256,
// hidden_dim 2048, Q6_K blocks of 256) with tp = 3:
//   rank 0: query heads [0, 2), KV heads [0, 1), FFN columns [0, 512)
//   rank 1: query heads [2, 3), KV heads [0, 1), FFN columns [512, 1280)
//   rank 2: query heads [3, 4), KV heads [0, 1), FFN columns [1280, 2048)
// (every rank computes and caches the one KV head; rank 0's second query head weighs 2/3 of a
// unit of 256 FFN columns, 2 * 256 against 3 * 256 multiply-adds per model dimension, so rank 0
// takes 2 of the 8 units and the others 3).
//
// Reduction order. A row-parallel product sums over the split dimension; splitting it across
// ranks changes the order of the floating-point additions, and the greedy output of a small
// model changes with it. So groups never sum "per rank": the split dimension is cut into
// fixed *reduction segments*, the union of the shard boundaries of every tp from 1 to
// max_tp, each segment's partial dot product is computed whole by the rank that owns it, and
// the partials are added in segment order on every rank. The result is the same bits for
// every tp. Attention-out segments are cut in query-head units (the attention split above,
// which for tp <= n_kv_heads cuts on KV-head boundaries). For SmolLM2 (max_tp 3):
// attention-out has 3 segments (one per KV head), the FFN has 4 (blocks [0, 16), [16, 21),
// [21, 32), [32, 48) of 32 columns: the cuts of tp 2 and 3). For Gemma 3 270M (max_tp 3):
// attention-out has 3 (query heads [0, 2), [2, 3), [3, 4): the cuts of tp 2 and 3), the FFN 4
// (blocks [0, 2), [2, 4), [4, 5), [5, 8) of 256 columns).
//
// Pure arithmetic: no MPI, safe anywhere.
#pragma once

#include <algorithm>
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

// How a group of ranks splits a mixture-of-experts model's experts.
enum class MoeSplit {
  kExperts,  // expert parallelism: each rank holds whole experts (the default)
  kSlices,   // each rank holds a column slice of every expert, as of a dense FFN
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

// The sizes of a model that the plan splits.
struct TransformerShape {
  int64_t n_heads = 0;
  int64_t n_kv_heads = 0;
  int64_t hidden_dim = 0;
  int64_t ffn_unit = 1;  // FFN split granularity (quantized: the block size of ffn_down's type)
  int64_t head_dim = 1;  // columns per attention head
  int max_tp = 0;        // largest tp the reduction segments serve (0: default_max_tp)
  int64_t n_vocab = 0;   // LM head rows (0: the model has no LM head)
};

// How many ways the default plan splits a model's query heads when it has fewer KV heads.
//
// Why 3: the reduction segments are the union of the cuts of every tp up to max_tp, and each
// segment is one more partial sum to compute and exchange in every row-parallel product at
// every tp, so max_tp should be no larger than the groups that run. The 2-core CI runs tp 1,
// 2 and 3, so a model with one or two KV heads (Gemma 3 270M, the synthetic GQA models) is
// planned for 3 query-head parts; models with 3 or more KV heads keep max_tp = n_kv_heads and
// with it their segments. Raise it (and accept the extra segments) to run larger groups of
// such models.
inline constexpr int kQueryHeadSplit = 3;

// The max_tp a shape gets when TransformerShape::max_tp is 0: the KV heads, or up to
// kQueryHeadSplit query-head parts when there are fewer KV heads than that:
// max(n_kv_heads, min(n_heads, kQueryHeadSplit)). SmolLM2 (9/3): 3; Gemma 3 270M (4/1): 3;
// Llama 3.1 8B (32/8): 8.
int default_max_tp(int64_t n_heads, int64_t n_kv_heads);

// Query heads of rank `rank` in a group of `tp` (the attention split, in query-head units):
// the query heads of split_evenly(n_kv_heads, tp, rank) KV heads when tp <= n_kv_heads, else
// split_evenly(n_heads, tp, rank). Preconditions: n_kv_heads > 0 divides n_heads,
// 1 <= tp <= n_heads, 0 <= rank < tp.
Range split_q_heads(const TransformerShape& shape, int tp, int rank);

// The KV heads that query heads `q_heads` (non-empty) use:
// [q.begin / group, (q.end - 1) / group + 1), group = n_heads / n_kv_heads.
Range kv_heads_of(const TransformerShape& shape, Range q_heads);

// The most KV heads any rank of a group of `tp` holds (the rank whose KV cache is largest):
// ceil(n_kv_heads / tp) when tp <= n_kv_heads, else 1 or 2 (a rank whose query heads straddle
// a KV-head boundary holds both). Preconditions as split_q_heads.
int64_t max_kv_heads_per_rank(const TransformerShape& shape, int tp);

// One rank's part of the model: the heads, FFN columns and LM head rows it owns.
//
// Attention mapping: local query head i (global q_heads.begin + i) uses global KV head
// (q_heads.begin + i) / q_per_kv, which is local KV head kv_head_of(i) = that minus
// kv_heads.begin. A KV head's local query heads are contiguous (q_heads_of(j)): all q_per_kv
// of them when tp <= n_kv_heads; with replication (tp > n_kv_heads) the rank's first and last
// KV heads may serve only some of theirs, another rank holding the same KV head for the rest.
struct TransformerShard {
  int rank = 0;
  int tp = 1;
  Range kv_heads;        // KV heads whose K/V rows (and cache) this rank computes
  Range q_heads;         // query heads: disjoint across the group, covering [0, n_heads)
  int64_t q_per_kv = 1;  // query heads per KV head: n_heads / n_kv_heads
  Range ffn;             // columns of the feed-forward hidden dimension
  Range vocab;           // rows of the LM head (empty when the shape has no n_vocab)
  std::vector<Range> vocab_per_rank;  // every rank's `vocab`, in rank order
  // This rank's reduction segments, as global column ranges of the attention-output (wo) and
  // FFN-down inputs, in order; and how many segments each rank of the group owns.
  std::vector<Range> attn_segments, ffn_segments;
  std::vector<int> attn_segments_per_rank, ffn_segments_per_rank;

  // Local KV head (index into kv_heads) of local query head i (index into q_heads).
  int64_t kv_head_of(int64_t i) const { return (q_heads.begin + i) / q_per_kv - kv_heads.begin; }
  // Local query heads [begin, end) that use local KV head j: contiguous and non-empty.
  Range q_heads_of(int64_t j) const {
    const int64_t h = kv_heads.begin + j;
    return {std::max(h * q_per_kv, q_heads.begin) - q_heads.begin,
            std::min((h + 1) * q_per_kv, q_heads.end) - q_heads.begin};
  }
};

// Rows of the LM head per vocabulary split unit: the height of a packed quant panel.
inline constexpr int64_t kVocabUnit = 16;

// LM head rows [begin, end) of rank `rank` in a group of tp: whole units of kVocabUnit
// (the last rank's part may end at n_vocab mid-unit), as even as whole units allow.
Range split_vocab(int64_t n_vocab, int tp, int rank);

// FFN units (of shape.ffn_unit columns) of rank `rank` in a group of `tp`: contiguous, at least
// one per rank, cut where the projection work is closest to even. A rank's work per token and
// model dimension: 2 * head_dim per query head (its q rows and wo columns), 2 * head_dim per KV
// head it holds (k and v rows; a replicated KV head counts on every rank holding it), and
// 3 * ffn_unit per FFN unit (gate, up and down). For tp <= n_kv_heads this is the KV-head
// split's arithmetic unchanged. Precondition: the shape passes plan_transformer_shard's checks
// for this tp.
Range split_ffn(const TransformerShape& shape, int tp, int rank);

// The shard of rank `rank` in a group of `tp`; an Error (with the numbers and the tp to choose)
// when tp does not fit the model: tp < 1, rank outside [0, tp), n_heads not a multiple of
// n_kv_heads, tp > n_heads, tp > max_tp (default_max_tp when the shape leaves it 0), max_tp >
// n_heads, or fewer FFN units than tp. The segments serve every tp up to max_tp that the FFN
// can take (at most one per FFN unit), so a model with fewer FFN units than max_tp keeps the
// segments of the groups it can run.
Result<TransformerShard> plan_transformer_shard(const TransformerShape& shape, int tp, int rank);

}  // namespace shardserve
