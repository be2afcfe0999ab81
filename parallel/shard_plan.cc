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

int default_max_tp(int64_t n_heads, int64_t n_kv_heads) {
  return static_cast<int>(std::max(n_kv_heads, std::min<int64_t>(n_heads, kQueryHeadSplit)));
}

Range split_q_heads(const TransformerShape& shape, int tp, int rank) {
  if (tp > shape.n_kv_heads) return split_evenly(shape.n_heads, tp, rank);
  const int64_t group = shape.n_heads / shape.n_kv_heads;
  const Range kv = split_evenly(shape.n_kv_heads, tp, rank);
  return {kv.begin * group, kv.end * group};
}

Range kv_heads_of(const TransformerShape& shape, Range q_heads) {
  const int64_t group = shape.n_heads / shape.n_kv_heads;
  return {q_heads.begin / group, (q_heads.end - 1) / group + 1};
}

int64_t max_kv_heads_per_rank(const TransformerShape& shape, int tp) {
  int64_t most = 0;
  for (int r = 0; r < tp; ++r)
    most = std::max(most, kv_heads_of(shape, split_q_heads(shape, tp, r)).size());
  return most;
}

Range split_ffn(const TransformerShape& shape, int tp, int rank) {
  const int64_t n_units = shape.hidden_dim / shape.ffn_unit;
  // Multiply-adds per token and model dimension: a query head brings its query rows and its
  // columns of the output projection, a KV head its key and value rows (on every rank that
  // holds it), an FFN unit its gate, up and down columns. Whole numbers, exact in a double: for
  // tp <= n_kv_heads the cuts are the bits of the KV-head formula, kv_before * 2 * head_dim *
  // (group + 1).
  const int64_t per_head = 2 * shape.head_dim;
  std::vector<int64_t> work_before(static_cast<size_t>(tp) + 1, 0);  // of the ranks before r
  for (int r = 0; r < tp; ++r) {
    const Range q = split_q_heads(shape, tp, r);
    work_before[r + 1] = work_before[r] + (q.size() + kv_heads_of(shape, q).size()) * per_head;
  }
  const double per_unit = 3.0 * static_cast<double>(shape.ffn_unit);
  const double total =
      static_cast<double>(work_before[tp]) + static_cast<double>(n_units) * per_unit;
  auto cut = [&](int r) -> int64_t {
    if (r == 0) return 0;
    if (r == tp) return n_units;
    const double units = (total * r / tp - static_cast<double>(work_before[r])) / per_unit;
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
  using std::to_string;
  if (tp < 1) return Error{"tp must be at least 1, got " + to_string(tp)};
  if (rank < 0 || rank >= tp)
    return Error{"rank " + to_string(rank) + " is outside a group of tp = " + to_string(tp)};
  if (shape.n_heads <= 0 || shape.n_kv_heads <= 0 || shape.n_heads % shape.n_kv_heads != 0)
    return Error{"n_heads " + to_string(shape.n_heads) +
                 " is not a positive multiple of n_kv_heads " + to_string(shape.n_kv_heads)};
  auto count = [](int64_t n, const char* what) {
    return to_string(n) + " " + what + (n == 1 ? "" : "s");
  };
  const std::string heads =
      count(shape.n_heads, "query head") + " and " + count(shape.n_kv_heads, "KV head");
  const bool default_limit = shape.max_tp <= 0;
  const int max_tp = default_limit ? default_max_tp(shape.n_heads, shape.n_kv_heads) : shape.max_tp;
  if (tp > shape.n_heads)
    return Error{"tp = " + to_string(tp) + " is larger than the model's " + heads +
                 " (every rank needs a query head); choose tp <= " +
                 to_string(std::min<int64_t>(max_tp, shape.n_heads))};
  if (max_tp > shape.n_heads)
    return Error{"max_tp = " + to_string(max_tp) + " is larger than the model's " + heads +
                 "; plan for at most " + to_string(shape.n_heads)};
  if (tp > max_tp) {
    std::string why;
    if (default_limit && max_tp == shape.n_kv_heads)
      why = " (the default for " + heads + ": ranks split the KV heads)";
    else if (default_limit)
      why = " (the default for " + heads + ": ranks split the query heads at most " +
            to_string(kQueryHeadSplit) + " ways, replicating the KV heads they use)";
    return Error{"tp = " + to_string(tp) + " exceeds max_tp = " + to_string(max_tp) +
                 ", the largest group the reduction segments serve" + why +
                 "; choose tp <= " + to_string(max_tp)};
  }
  if (shape.ffn_unit <= 0 || shape.hidden_dim % shape.ffn_unit != 0)
    return Error{"hidden_dim " + to_string(shape.hidden_dim) +
                 " is not a multiple of the FFN split unit " + to_string(shape.ffn_unit)};
  const int64_t ffn_units = shape.hidden_dim / shape.ffn_unit;
  if (ffn_units < tp)
    return Error{"hidden_dim " + to_string(shape.hidden_dim) + " has only " + to_string(ffn_units) +
                 " blocks of " + to_string(shape.ffn_unit) + ", fewer than tp = " + to_string(tp) +
                 "; choose tp <= " + to_string(ffn_units)};

  TransformerShard s;
  s.rank = rank;
  s.tp = tp;
  s.q_heads = split_q_heads(shape, tp, rank);
  s.kv_heads = kv_heads_of(shape, s.q_heads);
  s.q_per_kv = shape.n_heads / shape.n_kv_heads;
  const SplitFn ffn_split = [&shape](int t, int r) { return split_ffn(shape, t, r); };
  const Range units = ffn_split(tp, rank);
  s.ffn = {units.begin * shape.ffn_unit, units.end * shape.ffn_unit};
  for (int r = 0; r < tp; ++r) s.vocab_per_rank.push_back(split_vocab(shape.n_vocab, tp, r));
  s.vocab = s.vocab_per_rank[rank];
  // Segments for every tp this model can run: up to max_tp, and no more ranks than FFN units.
  const int serve_tp = static_cast<int>(std::min<int64_t>(max_tp, ffn_units));
  assign_segments(
      shape.n_heads, serve_tp, tp, rank, shape.head_dim,
      [&shape](int t, int r) { return split_q_heads(shape, t, r); }, s.attn_segments,
      s.attn_segments_per_rank);
  assign_segments(ffn_units, serve_tp, tp, rank, shape.ffn_unit, ffn_split, s.ffn_segments,
                  s.ffn_segments_per_rank);
  return s;
}

}  // namespace shardserve
