// The scheduler of an embedding group: inputs wait in arrival order and are encoded in steps
// of up to max_batch inputs and max_batch_tokens tokens (a longer input runs alone).
//
// An encoder holds no state between steps (no KV cache), so there is nothing to admit or
// preempt: every queued input runs in the next step that has room, whole, and leaves with its
// embedding. The batch only decides how many inputs share a step; results do not depend on
// it (BertModel's promise). Not thread-safe: the leader's step loop owns it.
#pragma once

#include <cstdint>
#include <deque>
#include <vector>

#include "base/status.h"
#include "base/token_id.h"
#include "worker/step_plan.h"

namespace shardserve {

struct EmbedLimits {
  int64_t max_batch = 32;          // inputs per step (>= 1)
  int64_t max_batch_tokens = 512;  // tokens per step, unless one input alone is longer
  int64_t max_tokens = 512;        // longest input accepted (the encoder's positions)
  int64_t n_vocab = 0;             // valid token ids are [0, n_vocab) (>= 1)
};

struct EmbedInput {
  int64_t id = 0;
  std::vector<TokenId> tokens;
};

struct EncodedInput {
  int64_t id = 0;
  int64_t n_tokens = 0;
  std::vector<float> embedding;
};

class EmbedBatcher {
 public:
  explicit EmbedBatcher(EmbedLimits limits) : limits_(limits) {}

  // Queues an input; an Error (code kInvalidInput, with the numbers) if it is empty, longer
  // than max_tokens or holds a token id outside the vocabulary: the worker's one check of
  // what an input asks of the model (the coordinator validated the same at its door).
  Status submit(EmbedInput input);
  // Forgets a queued input; whether it was queued (inputs already planned finish their step).
  bool cancel(int64_t id);

  bool has_work() const { return !queue_.empty(); }
  int64_t waiting() const { return static_cast<int64_t>(queue_.size()); }

  // The next step: the oldest inputs while they fit the limits (always at least one).
  // Precondition: has_work().
  StepPlan next_plan();
  // The plan's embeddings (`outputs`: one row of `dim` floats per chunk, in order) as results.
  std::vector<EncodedInput> on_step_done(const StepPlan& plan, const std::vector<float>& outputs,
                                         int64_t dim) const;
  // A plan that tells the peers to stop.
  StepPlan shutdown_plan();

 private:
  EmbedLimits limits_;
  std::deque<EmbedInput> queue_;
  uint64_t next_step_ = 1;
};

}  // namespace shardserve
