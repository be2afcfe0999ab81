// One rank's part of a worker group: its shard of the model, its KV cache, its thread pool,
// and the step protocol that keeps the group in lock-step.
//
// The group's rank 0 is the leader. For every step it broadcasts the StepPlan (size, then
// bytes) to the peers and runs the plan on its own shard; the peers run the same plan on
// theirs. Partial activations are summed across the group after the attention-output and
// FFN-down projections (Collectives). Peers wait for the next plan without spinning a core; a
// plan whose step id is not the next one is a fatal protocol error (the group exits rather
// than diverge).
//
// The model is a decoder (chat: LlamaModel with a KV cache) or an encoder (embed: BertModel,
// no cache); both run the same plans through the same protocol. A decoder's chunks extend
// sequences in the KV cache and the leader computes the logits of chunks with need_logits (the
// LM head is replicated). An encoder's chunks are whole inputs (start_pos 0), each encoded
// from scratch, and every chunk's embedding comes out; `released` is unused.
//
// All MPI calls happen on the thread that calls lead()/follow().
#pragma once

#include <mpi.h>

#include <memory>
#include <vector>

#include "base/status.h"
#include "base/thread_pool.h"
#include "model/bert/bert_model.h"
#include "model/gguf/gguf.h"
#include "model/kv_cache/kv_cache.h"
#include "model/llama/llama_model.h"
#include "model/safetensors/safetensors.h"
#include "parallel/collectives.h"
#include "worker/step_plan.h"

namespace shardserve {

struct GroupOptions {
  int threads = 1;                      // CPU threads per rank
  int64_t kv_cache_bytes = 64ll << 20;  // KV budget per rank
  int64_t block_size = 16;              // positions per KV block
  double collective_timeout_s = 60.0;   // a peer silent this long inside a step is dead
};

class GroupMember {
 public:
  // Collective over `comm`: every rank loads its shard of the decoder in `file`.
  static Result<std::unique_ptr<GroupMember>> create(MPI_Comm comm, const gguf::File& file,
                                                     const GroupOptions& options);
  // Collective over `comm`: every rank loads its shard of the encoder in `file` (the KV budget
  // and block size of `options` are unused).
  static Result<std::unique_ptr<GroupMember>> create_encoder(MPI_Comm comm,
                                                             const safetensors::File& file,
                                                             const BertConfig& config,
                                                             const GroupOptions& options);
  ~GroupMember();

  int rank() const { return collectives_->rank(); }
  int tp() const { return collectives_->size(); }
  bool is_leader() const { return rank() == 0; }
  bool is_encoder() const { return encoder_ != nullptr; }
  const LlamaModel& model() const { return *model_; }     // decoder groups only
  const BertModel& encoder() const { return *encoder_; }  // encoder groups only
  // Blocks in every rank's KV cache (the same on all ranks: sized for the largest shard).
  int64_t kv_blocks() const { return kv_->shape().n_blocks; }
  int64_t block_size() const { return kv_->shape().block_size; }

  // Time this rank spent summing partial activations across the group (all-reduce).
  struct ReduceStats {
    double seconds = 0;
    int64_t calls = 0;
  };
  ReduceStats reduce_stats() const;

  // Leader: sends the plan to the peers, runs it, and returns one row per chunk with
  // need_logits, in chunk order: n_vocab logits (decoder) or the dim() floats of the input's
  // embedding (encoder). A shutdown plan makes the peers return from follow().
  void lead(const StepPlan& plan, std::vector<float>& outputs);
  // Peers: runs the leader's plans until a shutdown plan; Error on a protocol violation.
  Status follow();

 private:
  class GroupShardCombiner;
  GroupMember() = default;
  void run(const StepPlan& plan, std::vector<float>* outputs);
  void encode(const StepPlan& plan, std::vector<float>* outputs);

  MPI_Comm comm_ = MPI_COMM_NULL;
  std::unique_ptr<Collectives> collectives_;
  std::unique_ptr<GroupShardCombiner> combiner_;
  std::unique_ptr<LlamaModel> model_;  // decoder groups
  std::unique_ptr<KvCache> kv_;
  std::unique_ptr<BertModel> encoder_;  // encoder groups
  std::unique_ptr<ThreadPool> pool_;
  uint64_t last_step_ = 0;
  std::vector<SeqChunk> chunks_;                  // scratch: the plan as the model's chunks
  std::vector<std::span<const TokenId>> inputs_;  // scratch: the plan as the encoder's inputs
  std::vector<float> embeddings_;                 // scratch: a peer's (unused) embeddings
};

}  // namespace shardserve
