// One rank's shard of a model, as a worker group runs it: the one interface through which a
// group drives its model, whatever the architecture (a decoder with a KV cache, an encoder
// without) and wherever it computes (CPU, CUDA). Implemented by LlamaModel
// (model/llama/llama_model.h), BertModel (model/bert/bert_model.h) and CudaLlamaModel
// (model/cuda/cuda_llama_model.h). The worker picks the class once, when it loads the model
// (cli/worker.cc); its group (worker/group.h) drives it without knowing which it got.
//
// A step is a list of chunks. Every rank of a group runs the same chunks on its own shard; the
// ranks combine their partial results inside forward() (through the StepResources' combiner on
// the CPU, through the Collectives given at load on a GPU), so each rank returns the whole
// outputs. What a chunk means is the model's:
// - a decoder (kv_shape() has a value) extends sequence `seq` in the KV cache: its tokens are
//   written at positions [start_pos, start_pos + n) and attend causally to everything before
//   them; one output row is the n_vocab logits of the chunk's last token (of each of its tokens
//   with all_logits).
// - an encoder (kv_shape() is empty) keeps no state between steps: a chunk is one whole input
//   (start_pos 0, 1 to the model's maximum of tokens), and its output row is the input's
//   embedding. A chunk without need_logits asks for nothing and is skipped.
//
// Threading and ownership: a model is used by one thread at a time (it owns the step's scratch
// memory); StepResources lend a CPU model the parallelism and the group for one call.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <vector>

#include "base/status.h"
#include "base/thread_pool.h"
#include "base/token_id.h"
#include "model/kv_cache/kv_cache.h"
#include "parallel/shard_combiner.h"

namespace shardserve {

struct SeqChunk {
  int64_t seq = 0;        // decoders: KV cache sequence id
  int64_t start_pos = 0;  // position of tokens[0]
  std::span<const TokenId> tokens;
  bool need_logits = false;  // an output row for this chunk (decoders: its last token's)
  // Decoders: a row for every token of the chunk, in order, instead of the last one's (the
  // prompt's scores: row i predicts the token at start_pos + i + 1). Implies need_logits.
  bool all_logits = false;
};

// The output rows forward() gives a chunk.
inline int64_t output_rows(const SeqChunk& chunk) {
  if (chunk.all_logits) return static_cast<int64_t>(chunk.tokens.size());
  return chunk.need_logits ? 1 : 0;
}

// What a CPU model computes one step with. A CUDA model computes on its device and combines
// through the Collectives it was loaded with: it ignores both.
struct StepResources {
  ThreadPool* pool = nullptr;  // CPU models: required; the threads of the step
  // Joins the partial results of the group's ranks (parallel/shard_combiner.h); every rank of
  // the group passes one and runs the same chunks. Null: the model is whole in this process.
  ShardCombiner* combiner = nullptr;
};

class RankModel {
 public:
  virtual ~RankModel() = default;

  // Floats in one output row: n_vocab logits (decoder) or the embedding's dimension (encoder).
  virtual int64_t output_width() const = 0;

  // The shape of this rank's KV cache with n_blocks blocks of block_size positions (the heads
  // of its shard); empty for a model that keeps no KV cache (an encoder).
  virtual std::optional<KvCacheShape> kv_shape(int64_t n_blocks, int64_t block_size) const = 0;

  // Prepares the model's own storage for a KvCache of `shape` (a kv_shape() result) before the
  // first forward() with it: the CUDA model allocates its device K and V; CPU models keep K and
  // V in the KvCache itself and have nothing to do. An Error when the storage does not fit.
  virtual Status reserve_kv(const KvCacheShape& /*shape*/) { return {}; }

  // Runs one step. `kv`: the cache of kv_shape() (decoders, with blocks reserved for every
  // chunk up to start_pos + n); null for an encoder. If `outputs` is non-null it receives
  // output_rows(chunk) rows of output_width() floats per chunk, in chunk order (empty when no
  // chunk asks for any). Every token id must be in [0, the vocabulary size).
  // An Error (nothing computed, no state changed) when a chunk is not one this model can run:
  // an encoder's chunk that is not a whole input. Violated preconditions abort.
  virtual Status forward(std::span<const SeqChunk> chunks, KvCache* kv,
                         const StepResources& resources, std::vector<float>* outputs) = 0;
};

}  // namespace shardserve
