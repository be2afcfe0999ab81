// A Llama-family decoder on one CUDA device: the CUDA backend of LlamaModel, a RankModel with
// the same step contract (model/rank_model.h): one forward() over any mix of prefill chunks and
// decode tokens, writing each chunk's K and V into a paged cache at [start_pos, start_pos + n)
// and returning logits for the chunks that ask for them. The forward pass keeps the CPU's step
// names in the CPU's order: embed; per layer norm -> QKV -> RoPE -> cache write -> attention
// -> out-projection -> residual -> norm -> gate/up -> SwiGLU -> down -> residual; final norm
// -> LM head.
//
// Weights: rank `rank` of `tp` shards (parallel/shard_plan.h, the CPU's plan) are read from the
// mapped GGUF file and copied to the device. Tensors of a type the quantized GEMV reads (Q4_0,
// Q4_1, Q8_0, Q2_K .. Q6_K; model/cuda/quant_gemv.cuh) stay GGUF blocks, rows padded to 16
// bytes; the others (F32, F16, BF16, Q5_0, Q5_1) are dequantized to f16 once. Q, K, V of a layer
// form one [q + 2 kv rows, dim] projection and gate, up one [2 ffn rows, dim] projection; parts
// of one storage type are stacked into one matrix, a part of another type (Q6_K attn_v in a
// Q4_K_M file) is a matrix of its own at its row offset (model/cuda/weight_plan.h). A product of
// at most gpu::kGemvMaxCols tokens (decode) runs the quantized GEMV on the blocks (8-bit
// activations: its documented error bound); a larger one (prefill) dequantizes the matrix into
// a scratch buffer and runs cuBLAS, as f16 weights always do. Embedding rows are gathered from
// the raw token_embd bytes (exact f32, as the CPU's lookup); the LM head is a projection like
// the others (its own copy of token_embd when tied).
// Row-parallel products (attention-out, FFN-down) are all-reduced through `group` (an NCCL
// Collectives: device buffers) when tp > 1; tp = 1 accumulates them straight into the residual.
// Unlike the CPU path, a group's result depends on its tp by float rounding (NCCL sums the
// ranks' partial products; there are no reduction segments here). The LM head is replicated:
// every rank computes all the logits. So forward() ignores the StepResources (the CPU's thread
// pool and ShardCombiner).
//
// KV cache: the host KvCache passed to forward() keeps the block tables (reserve / release as
// on the CPU); the K and V themselves live on the device, in the same layout, allocated by
// reserve_kv() for that cache's shape. (The host KvCache also reserves host storage it never
// touches here: virtual memory only.)
//
// Memory is fixed at load and reserve_kv(): the activations are sized for the step limits of
// CudaLlamaOptions, the token ids and block tables of a step go up from one page-locked host
// buffer, cuBLAS gets its own workspace, and the RoPE table covers the context the group
// serves. A step never allocates (a step beyond those limits is a violated precondition), so
// the step's work can later be captured in a CUDA graph.
//
// Threading: one thread uses a model at a time, after cudaSetDevice(device) — load() selects
// the device on the calling thread. Failure: load() returns an Error for no device, a model
// this backend cannot run or memory that does not fit; CUDA errors during a step abort with the
// failing call (cuda_check.h), and the group is restarted.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <vector>

#include "base/status.h"
#include "model/gguf/gguf.h"
#include "model/kv_cache/kv_cache.h"
#include "model/llama/config.h"
#include "model/rank_model.h"
#include "parallel/collectives.h"
#include "parallel/shard_plan.h"

namespace shardserve {

// What a CudaLlamaModel is sized for at load: the limits of the group's scheduler.
struct CudaLlamaOptions {
  // Positions a sequence may reach (the RoPE table's length): the context the group serves;
  // 0: the model's trained context.
  int64_t context_length = 0;
  // Most tokens in one step (the scheduler's max_batch_tokens).
  int64_t max_step_tokens = 512;
  // Most chunks (sequences) in one step (the scheduler's max_batch); 0: max_step_tokens.
  int64_t max_step_chunks = 0;
  // Keep GEMV-readable quantized weights as blocks on the device (see above); false: dequantize
  // every weight to f16 at load (more memory and bytes per step; the reference for tests).
  bool quantized_weights = true;
};

class CudaLlamaModel final : public RankModel {
 public:
  // Loads rank `rank` of `tp` onto CUDA device `device`. `group` (tp > 1: required, an NCCL
  // group of tp ranks; tp = 1: may be null) must outlive the model. The File is only read
  // during load(). An Error when options are not positive where they must be.
  static Result<std::unique_ptr<CudaLlamaModel>> load(const gguf::File& file, int tp, int rank,
                                                      int device, Collectives* group = nullptr,
                                                      const CudaLlamaOptions& options = {});
  ~CudaLlamaModel() override;

  const LlamaConfig& config() const { return config_; }
  const TransformerShard& shard() const { return shard_; }
  int device() const { return device_; }
  // Bytes of device memory the weights take (quantized blocks with their row padding, f16
  // matrices, norms, the embedding and RoPE tables).
  int64_t weight_bytes() const;
  // Of those, the bytes a decode step reads whole: all but the embedding table and the RoPE
  // table, of which a step gathers only its tokens' rows (for bandwidth figures). Quantized
  // weights count as their blocks (the padding included: the GEMV reads it).
  int64_t bytes_read_per_step() const;

  int64_t output_width() const override { return config_.n_vocab; }
  // KV cache shape for this shard (as LlamaModel::kv_shape).
  std::optional<KvCacheShape> kv_shape(int64_t n_blocks, int64_t block_size) const override;
  // Allocates the device K/V storage for caches of `shape`; an Error when it does not fit.
  Status reserve_kv(const KvCacheShape& shape) override;

  // Runs one step (RankModel::forward; `kv` is required, `resources` unused): forward_greedy()
  // without the argmax. Never an Error.
  Status forward(std::span<const SeqChunk> chunks, KvCache* kv, const StepResources& resources,
                 std::vector<float>* logits) override;
  // Runs one step. Preconditions: reserve_kv(kv.shape()), blocks reserved in kv for every chunk
  // up to start_pos + n, token ids in [0, n_vocab), positions below options.context_length, at
  // most options.max_step_tokens tokens in at most max_step_chunks chunks (all checked: a
  // violation aborts naming the limit).
  // `logits` (if non-null) receives output_rows(chunk) rows of n_vocab floats per chunk, in
  // chunk order; `greedy` (if non-null) receives the argmax of each such row, computed on the
  // device (a benchmark or test then copies no logits back).
  void forward_greedy(std::span<const SeqChunk> chunks, KvCache& kv, std::vector<float>* logits,
                      std::vector<TokenId>* greedy);

  // Defined in the .cc only (the device buffers).
  struct Weights;
  struct RunState;

 private:
  CudaLlamaModel(LlamaConfig config, TransformerShard shard, int device, Collectives* group);
  Status allocate_activations(const CudaLlamaOptions& options);

  LlamaConfig config_;
  TransformerShard shard_;
  int device_ = 0;
  Collectives* group_ = nullptr;
  std::unique_ptr<Weights> weights_;
  std::unique_ptr<RunState> state_;
};

}  // namespace shardserve
