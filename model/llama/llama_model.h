// A decoder of any family of model/llama/family.h (llama, mistral, smollm, qwen2, qwen3, phi3,
// gemma3) running on CPU: one rank's shard of the weights, a batched forward pass over sequences
// of different lengths, logits out. It is a RankModel (model/rank_model.h) with a KV cache,
// whose output rows are logits. The families share this one forward pass; their traits
// (LlamaConfig::traits, ::layers) switch on QK norms, post norms, the embedding scale, where
// the attention scale goes, GELU gating, per-layer RoPE bases and sliding-window layers.
//
// One step takes any mix of chunks: a prefill chunk is several consecutive tokens of one
// sequence, a decode chunk is one token. Each chunk's tokens are written to the KV cache at
// positions [start_pos, start_pos + n) and attend causally to everything before them.
// In a tensor-parallel group every rank runs the same step on its shard; the row-parallel
// attention-output and FFN-down projections are computed per reduction segment and combined
// through the step's `ShardCombiner` in a fixed order, so a group's output does not depend on
// its tp.
// Two arithmetics (LlamaArithmetic):
// - kLlamaCpp: llama.cpp's own summation orders, including its two attention orders (one for a
//   single-token chunk, another for a longer one). Without a ShardCombiner (a lone process, tp = 1)
//   it reproduces llama.cpp's logits bit for bit. A sequence's result does not depend on the
//   other sequences in its batch, but does on how its prompt was cut into chunks.
// - kFastest (the default): packed quant panels where the CPU has AVX2 or AVX-512 VNNI (several
//   times faster with many tokens per step) and one attention order for every chunk, so a token's
//   logits depend on nothing but its sequence's tokens: not on the batch, the chunking, or a
//   recomputation after preemption. It differs from llama.cpp by float rounding, which this
//   chaotic 135M model grows to a few tenths in the logits (as llama.cpp's own two attention
//   orders differ from each other).
// The LM head is split by vocabulary rows too (shard().vocab): each rank computes its rows'
// logits and the group gathers them (ShardCombiner::gather_columns), so the leader, which
// samples, does 1/tp of it instead of all of it.
//
// A LlamaModel is used by one thread at a time (it owns the step's scratch memory); the
// ThreadPool of the StepResources passed to forward() provides the parallelism inside a step.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <vector>

#include "base/status.h"
#include "base/thread_pool.h"
#include "model/gguf/gguf.h"
#include "model/kernels/cpu/ops.h"
#include "model/kv_cache/kv_cache.h"
#include "model/llama/config.h"
#include "model/llama/weights.h"
#include "model/rank_model.h"
#include "parallel/shard_combiner.h"
#include "parallel/shard_plan.h"

namespace shardserve {

enum class LlamaArithmetic {
  kFastest,   // packed quant panels where the CPU runs them (model/kernels/cpu/packed_quant.h)
  kLlamaCpp,  // row-at-a-time dots in llama.cpp's lane order (for bit-for-bit comparisons)
};

class LlamaModel final : public RankModel {
 public:
  // Loads rank `rank` of `tp` shards from an open GGUF file, which must outlive the model.
  // `moe_split`: how a mixture-of-experts model's experts are split over the ranks (ignored by
  // dense models; the lone rank of kLlamaCpp arithmetic without a combiner holds them whole).
  static Result<std::unique_ptr<LlamaModel>> load(
      const gguf::File& file, int tp = 1, int rank = 0,
      LlamaArithmetic arithmetic = LlamaArithmetic::kFastest,
      MoeSplit moe_split = MoeSplit::kExperts);

  const LlamaConfig& config() const { return config_; }
  const TransformerShard& shard() const { return shard_; }

  int64_t output_width() const override { return config_.n_vocab; }
  // KV cache shape for this shard's KV heads with n_blocks blocks of block_size positions.
  std::optional<KvCacheShape> kv_shape(int64_t n_blocks, int64_t block_size) const override;

  // Runs one step (RankModel::forward; `kv` is required). For the last token of every chunk
  // with need_logits (every token with all_logits), each rank computes the logits of its
  // vocabulary rows, which the combiner gathers; `logits` (if non-null) receives those rows of
  // n_vocab floats, in order. Without
  // a combiner the model is whole, and kLlamaCpp sums in llama.cpp's order. Never an Error.
  Status forward(std::span<const SeqChunk> chunks, KvCache* kv, const StepResources& resources,
                 std::vector<float>* logits) override;

 private:
  struct RunState;
  LlamaModel(const gguf::File& file, LlamaConfig config, TransformerShard shard,
             LlamaWeights weights, LlamaArithmetic arithmetic, MoeSplit moe_split);

  // The blocks of one step; each reads and writes the RunState.
  void embed(std::span<const SeqChunk> chunks, const KvCache& kv);
  void attention_block(int64_t layer, std::span<const SeqChunk> chunks, KvCache& kv,
                       ShardCombiner* combiner, ThreadPool& pool);
  void ffn_block(int64_t layer, ShardCombiner* combiner, ThreadPool& pool);
  Status lm_head(std::span<const SeqChunk> chunks, ShardCombiner* combiner,
                 std::vector<float>* logits, ThreadPool& pool);

  void attention(int64_t layer, std::span<const SeqChunk> chunks, KvCache& kv, ThreadPool& pool);
  void attention_blocked(int64_t layer, std::span<const SeqChunk> chunks, KvCache& kv,
                         ThreadPool& pool);
  // y[n, dim] = w x for a row-parallel weight whose local input columns start at global
  // column `local_begin`, reduced over `segments` through `combiner` (see ShardCombiner).
  void row_parallel(const WeightMatrix& w, const float* x, int64_t n, int64_t ldx,
                    const std::vector<Range>& segments, std::span<const int> per_rank,
                    int64_t local_begin, ShardCombiner* combiner, float* y, ThreadPool& pool);

  const gguf::File& file_;
  LlamaConfig config_;
  TransformerShard shard_;
  LlamaWeights weights_;
  LlamaArithmetic arithmetic_;
  MoeSplit moe_split_ = MoeSplit::kExperts;
  // The distinct RoPE settings of the layers (one, or Gemma 3's local and global) and which
  // one each layer uses.
  std::vector<kernels::RopeParams> rope_variants_;
  std::vector<int> layer_rope_;
  // For each local KV head, its local query heads [first, first + count): all `group` of them,
  // or the part this rank owns when a KV head is replicated over ranks (tp > n_kv_heads).
  struct QueryHeads {
    int64_t first = 0, count = 0;
  };
  std::vector<QueryHeads> kv_queries_;
  std::shared_ptr<RunState> state_;
};

}  // namespace shardserve
