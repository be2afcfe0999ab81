#include "parallel/shard_plan.h"

#include <algorithm>
#include <cmath>
#include <set>
#include <string>

namespace shardserve {

Range split_evenly(int64_t n, int tp, int rank) {
  int64_t base = n / tp, extra = n % tp;
  int64_t begin = rank * base + (rank < extra ? rank : extra);
  int64_t size = base + (rank < extra ? 1 : 0);
  return {begin, begin + size};
}

Range split_ffn(const TransformerShape& shape, int tp, int rank) {
  const int64_t n_units = shape.hidden_dim / shape.ffn_unit;
  // Multiply-adds per token and model dimension: a KV head brings its query rows, its key and
  // value rows and its query columns of the output projection; an FFN unit its gate, up and
  // down columns.
  const double group = static_cast<double>(shape.n_heads) / static_cast<double>(shape.n_kv_heads);
  const double per_kv_head = 2.0 * static_cast<double>(shape.head_dim) * (group + 1.0);
  const double per_unit = 3.0 * static_cast<double>(shape.ffn_unit);
  const double total =
      static_cast<double>(shape.n_kv_heads) * per_kv_head + static_cast<double>(n_units) * per_unit;
  auto cut = [&](int r) -> int64_t {
    if (r == 0) return 0;
    if (r == tp) return n_units;
    const double kv_before = static_cast<double>(split_evenly(shape.n_kv_heads, tp, r).begin);
    const double units = (total * r / tp - kv_before * per_kv_head) / per_unit;
    // At least one unit per rank on either side of the cut.
    return std::clamp<int64_t>(std::llround(units), r, n_units - (tp - r));
  };
  int64_t begin = cut(rank), end = cut(rank + 1);
  if (end <= begin) end = begin + 1;  // unreachable with the clamps; keeps ranges non-empty
  return {begin, end};
}

std::vector<Range> reduction_segments(int64_t n_units, int max_tp) {
  return reduction_segments(
      n_units, max_tp, [n_units](int tp, int rank) { return split_evenly(n_units, tp, rank); });
}

std::vector<Range> reduction_segments(int64_t n_units, int max_tp, const SplitFn& split) {
  std::set<int64_t> cuts = {0, n_units};
  for (int t = 2; t <= max_tp; ++t)
    for (int r = 1; r < t; ++r) cuts.insert(split(t, r).begin);
  std::vector<Range> segments;
  for (auto it = cuts.begin(); std::next(it) != cuts.end(); ++it)
    segments.push_back({*it, *std::next(it)});
  return segments;
}

namespace {
// Assigns segments (in units) to the ranks owning them; fills `mine` (in columns, scaled by
// `cols_per_unit`) and the per-rank counts.
void assign_segments(int64_t n_units, int max_tp, int tp, int rank, int64_t cols_per_unit,
                     const SplitFn& split, std::vector<Range>& mine, std::vector<int>& per_rank) {
  per_rank.assign(tp, 0);
  for (const Range& seg : reduction_segments(n_units, max_tp, split)) {
    for (int r = 0; r < tp; ++r) {
      const Range own = split(tp, r);
      if (seg.begin < own.begin || seg.begin >= own.end) continue;
      ++per_rank[r];
      if (r == rank) mine.push_back({seg.begin * cols_per_unit, seg.end * cols_per_unit});
    }
  }
}
}  // namespace

Range split_vocab(int64_t n_vocab, int tp, int rank) {
  const Range units = split_evenly((n_vocab + kVocabUnit - 1) / kVocabUnit, tp, rank);
  return {std::min(units.begin * kVocabUnit, n_vocab), std::min(units.end * kVocabUnit, n_vocab)};
}

Result<TransformerShard> plan_transformer_shard(const TransformerShape& shape, int tp, int rank) {
  if (tp < 1) return Error{"tp must be at least 1, got " + std::to_string(tp)};
  if (rank < 0 || rank >= tp)
    return Error{"rank " + std::to_string(rank) +
                 " is outside a group of tp = " + std::to_string(tp)};
  if (shape.n_kv_heads <= 0 || shape.n_heads % shape.n_kv_heads != 0)
    return Error{"n_heads " + std::to_string(shape.n_heads) + " is not a multiple of n_kv_heads " +
                 std::to_string(shape.n_kv_heads)};
  if (tp > shape.n_kv_heads)
    return Error{"tp = " + std::to_string(tp) + " is larger than the model's " +
                 std::to_string(shape.n_kv_heads) +
                 " KV heads; choose tp <= " + std::to_string(shape.n_kv_heads)};
  if (shape.ffn_unit <= 0 || shape.hidden_dim % shape.ffn_unit != 0)
    return Error{"hidden_dim " + std::to_string(shape.hidden_dim) +
                 " is not a multiple of the FFN split unit " + std::to_string(shape.ffn_unit)};
  int64_t ffn_units = shape.hidden_dim / shape.ffn_unit;
  if (ffn_units < tp)
    return Error{"hidden_dim " + std::to_string(shape.hidden_dim) + " has only " +
                 std::to_string(ffn_units) + " blocks of " + std::to_string(shape.ffn_unit) +
                 ", fewer than tp = " + std::to_string(tp)};

  TransformerShard s;
  s.rank = rank;
  s.tp = tp;
  s.kv_heads = split_evenly(shape.n_kv_heads, tp, rank);
  int64_t group = shape.n_heads / shape.n_kv_heads;
  s.q_heads = {s.kv_heads.begin * group, s.kv_heads.end * group};
  const SplitFn ffn_split = [&shape](int t, int r) { return split_ffn(shape, t, r); };
  const Range units = ffn_split(tp, rank);
  s.ffn = {units.begin * shape.ffn_unit, units.end * shape.ffn_unit};
  for (int r = 0; r < tp; ++r) s.vocab_per_rank.push_back(split_vocab(shape.n_vocab, tp, r));
  s.vocab = s.vocab_per_rank[rank];
  const int max_tp = shape.max_tp > 0 ? shape.max_tp : static_cast<int>(shape.n_kv_heads);
  if (tp > max_tp)
    return Error{"tp = " + std::to_string(tp) + " exceeds max_tp = " + std::to_string(max_tp)};
  const int64_t n_kv = shape.n_kv_heads;
  assign_segments(
      n_kv, max_tp, tp, rank, group * shape.head_dim,
      [n_kv](int t, int r) { return split_evenly(n_kv, t, r); }, s.attn_segments,
      s.attn_segments_per_rank);
  assign_segments(ffn_units, max_tp, tp, rank, shape.ffn_unit, ffn_split, s.ffn_segments,
                  s.ffn_segments_per_rank);
  return s;
}

}  // namespace shardserve
