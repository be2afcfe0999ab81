// A BERT encoder producing sentence embeddings on CPU (all-MiniLM-L6-v2 and other BertModel
// checkpoints with absolute positions and erf GELU): one rank's shard of the weights, a batched
// forward pass over sequences of different lengths, one mean-pooled, L2-normalised embedding
// per sequence out (sentence-transformers' Transformer -> Pooling(mean) -> Normalize).
// As a RankModel (model/rank_model.h) it keeps no KV cache: each chunk of a step is one whole
// input, and its output row is the input's embedding.
//
// Sequences are packed one after another without padding; each token attends to every token of
// its own sequence and to nothing else (bidirectional), which is what BERT's attention mask
// does to a padded batch. Every token has token type 0 (single-segment input) and position
// = its index in its sequence. The mean runs over all of a sequence's tokens, [CLS] and [SEP]
// included, as sentence-transformers' attention-mask-weighted mean does.
//
// Tensor parallelism follows parallel/shard_plan.h with one KV head per query head: a rank
// owns a contiguous group of heads (Q, K, V column-parallel, their biases sliced alike) and of
// FFN columns (intermediate.dense column-parallel); attention.output.dense and output.dense are
// row-parallel, computed per reduction segment and completed through the `ShardCombiner`
// exactly as LlamaModel does, so the embeddings are the same bits for every tp. Biases of
// row-parallel products are added once, after the reduction. Reduction segments serve tp up to
// kMaxTp = 4 (12 heads split at the cuts of tp 2, 3 and 4 give 6 segments of the attention output,
// the 1536 FFN columns in 64-column units 6 more): beyond 4 ranks a 22M-parameter model spends more
// time reducing than multiplying, and more segments would cost every tp more partial sums.
// Without a ShardCombiner (a lone process) each of those products is one sum over all its columns
// instead of a sum of segment sums: the same values to float rounding, not the same bits.
// Results do not depend on how sequences are batched: every kernel computes a token's values
// in the same order whatever else is in the batch, so a sequence encoded alone or with others
// gets the same bits.
//
// A BertModel is used by one thread at a time (it owns the scratch memory, reused across calls);
// the ThreadPool passed to encode() (or in forward()'s StepResources) provides the parallelism
// inside a call.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <vector>

#include "base/status.h"
#include "base/thread_pool.h"
#include "model/bert/config.h"
#include "model/bert/weights.h"
#include "model/rank_model.h"
#include "model/safetensors/safetensors.h"
#include "parallel/shard_combiner.h"
#include "parallel/shard_plan.h"

namespace shardserve {

class BertModel final : public RankModel {
 public:
  static constexpr int kMaxTp = kBertMaxTp;

  // Loads rank `rank` of `tp` shards; `file` must outlive the model. An Error names the tensor
  // or setting that does not fit (shape, dtype, tp larger than kMaxTp or the head count).
  static Result<std::unique_ptr<BertModel>> load(const safetensors::File& file,
                                                 const BertConfig& config, int tp = 1,
                                                 int rank = 0);
  ~BertModel() override;

  const BertConfig& config() const { return config_; }
  const TransformerShard& shard() const { return shard_; }
  int64_t dim() const { return config_.dim; }  // floats per embedding

  // Encodes every sequence: out[i * dim() .. (i + 1) * dim()) = the embedding of seqs[i].
  // Every rank of a group calls it with the same sequences and gets the same embeddings.
  // Preconditions: each sequence has 1 to config().max_positions tokens (callers truncate to
  // config().max_seq_len), each id is in [0, n_vocab).
  void encode(std::span<const std::span<const TokenId>> seqs, ThreadPool& pool,
              ShardCombiner* combiner, float* out);

  int64_t output_width() const override { return dim(); }
  std::optional<KvCacheShape> kv_shape(int64_t, int64_t) const override { return std::nullopt; }
  // Encodes the chunks with need_logits (RankModel::forward; `kv` is unused): the embedding of
  // each, in chunk order. An Error when a chunk is not a whole input: start_pos 0 and 1 to
  // config().max_positions tokens.
  Status forward(std::span<const SeqChunk> chunks, KvCache* kv, const StepResources& resources,
                 std::vector<float>* outputs) override;

 private:
  struct RunState;
  BertModel(BertConfig config, TransformerShard shard, BertWeights weights);

  void attention(const BertLayerWeights& layer, std::span<const std::span<const TokenId>> seqs,
                 ThreadPool& pool);
  // y[n, dim] = w x (no bias) for a row-parallel weight whose local input columns start at
  // global column `local_begin`, reduced over `segments` through `combiner`.
  void row_parallel(const kernels::WeightMatrix& w, const float* x, int64_t ldx,
                    const std::vector<Range>& segments, std::span<const int> per_rank,
                    int64_t local_begin, ShardCombiner* combiner, float* y, ThreadPool& pool);

  BertConfig config_;
  TransformerShard shard_;
  BertWeights weights_;
  std::unique_ptr<RunState> state_;
};

}  // namespace shardserve
