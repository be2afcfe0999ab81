#include "parallel/shard_plan.h"

#include <string>

namespace shardserve {

Range split_evenly(int64_t n, int tp, int rank) {
  int64_t base = n / tp, extra = n % tp;
  int64_t begin = rank * base + (rank < extra ? rank : extra);
  int64_t size = base + (rank < extra ? 1 : 0);
  return {begin, begin + size};
}

Result<LlamaShard> plan_llama_shard(const LlamaShape& shape, int tp, int rank) {
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

  LlamaShard s;
  s.rank = rank;
  s.tp = tp;
  s.kv_heads = split_evenly(shape.n_kv_heads, tp, rank);
  int64_t group = shape.n_heads / shape.n_kv_heads;
  s.q_heads = {s.kv_heads.begin * group, s.kv_heads.end * group};
  Range units = split_evenly(ffn_units, tp, rank);
  s.ffn = {units.begin * shape.ffn_unit, units.end * shape.ffn_unit};
  return s;
}

}  // namespace shardserve
