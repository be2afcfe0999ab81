// One rank's part of a worker group: its shard of the model (a RankModel, model/rank_model.h),
// the model's KV cache if it keeps one, its thread pool, and the step protocol that keeps the
// group in lock-step.
//
// The group's rank 0 is the leader. For every step it broadcasts the StepPlan (size, then
// bytes) to the peers and runs the plan on its own shard; the peers run the same plan on
// theirs. Inside a step the ranks complete each row-parallel product (attention output, FFN
// down) by gathering every rank's partial sums and adding them in reduction-segment order, and
// join the LM head's vocabulary slices (a ShardCombiner over Collectives, parallel/
// shard_combiner.h), so every rank gets the same bits for every tp. Peers wait for the next
// plan without spinning a core; a plan whose step id is not the next one, or that the KV cache
// or the model cannot run, is a fatal protocol error (the group exits rather than diverge).
//
// The model is chosen before the group exists and seen only through RankModel. A model with a
// KV cache (a decoder) gets a paged cache sized from the KV budget: a plan's `released`
// sequences leave it and its chunks reserve blocks in it before the model runs them. A model
// without one (an encoder) gets neither; its chunks are whole inputs. The leader receives one
// output row per chunk with need_logits: logits (decoder) or an embedding (encoder).
//
// All MPI calls happen on the thread that calls create()/lead()/follow().
#pragma once

#include <mpi.h>

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "base/status.h"
#include "base/thread_pool.h"
#include "model/kv_cache/kv_cache.h"
#include "model/rank_model.h"
#include "parallel/collectives.h"
#include "worker/step_plan.h"

namespace shardserve {

struct GroupOptions {
  int threads = 1;                      // CPU threads per rank
  int64_t kv_cache_bytes = 64ll << 20;  // KV budget per rank (models with a KV cache)
  int64_t block_size = 16;              // positions per KV block (models with a KV cache)
  double collective_timeout_s = 60.0;   // a peer silent this long inside a step is dead
};

class GroupMember {
 public:
  // Loads this rank's shard of the group's model: rank `rank` of a group of `tp`.
  using LoadModel = std::function<Result<std::unique_ptr<RankModel>>(int tp, int rank)>;

  // Collective over `comm`: every rank loads its shard of the same model through `load`, then
  // gets the KV cache the model asks for (RankModel::kv_shape): as many blocks on every rank as
  // options.kv_cache_bytes hold on the rank with the most KV heads, so the leader's block
  // accounting holds for all. An Error for a model that does not load, a KV budget that holds
  // no block, or KV storage the model cannot reserve: on every rank when any rank fails (the
  // others' Error names the failing rank, parallel/agree.h), so no rank is left waiting.
  static Result<std::unique_ptr<GroupMember>> create(MPI_Comm comm, const LoadModel& load,
                                                     const GroupOptions& options);
  ~GroupMember();

  int rank() const { return collectives_->rank(); }
  int tp() const { return collectives_->size(); }
  bool is_leader() const { return rank() == 0; }
  const RankModel& model() const { return *model_; }
  // Blocks in every rank's KV cache (the same on all ranks); 0 without a KV cache.
  int64_t kv_blocks() const { return kv_ ? kv_->shape().n_blocks : 0; }
  int64_t block_size() const { return kv_ ? kv_->shape().block_size : 0; }

  // Time this rank spent combining partial results across the group (ShardCombiner).
  struct ReduceStats {
    double seconds = 0;
    int64_t calls = 0;
  };
  ReduceStats reduce_stats() const;

  // Leader: sends the plan to the peers, runs it, and returns one row of
  // model().output_width() floats per chunk with need_logits, in chunk order: logits (decoder)
  // or the input's embedding (encoder). A shutdown plan makes the peers return from follow().
  void lead(const StepPlan& plan, std::vector<float>& outputs);
  // Peers: runs the leader's plans until a shutdown plan; Error on a protocol violation.
  Status follow();

 private:
  class GroupShardCombiner;
  GroupMember() = default;
  Status make_kv_cache(const GroupOptions& options);
  void run(const StepPlan& plan, std::vector<float>* outputs);
  [[noreturn]] void die(const StepPlan& plan, const std::string& why) const;

  MPI_Comm comm_ = MPI_COMM_NULL;
  std::unique_ptr<Collectives> collectives_;
  std::unique_ptr<GroupShardCombiner> combiner_;
  std::unique_ptr<RankModel> model_;
  std::unique_ptr<KvCache> kv_;  // null for a model without a KV cache
  std::unique_ptr<ThreadPool> pool_;
  uint64_t last_step_ = 0;
  std::vector<SeqChunk> chunks_;  // scratch: the plan as the model's chunks
};

}  // namespace shardserve
