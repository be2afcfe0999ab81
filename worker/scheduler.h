// Continuous batching for one worker group, run by its leader rank.
//
// Every step the scheduler builds a StepPlan within two budgets, `max_batch` running
// sequences and `max_batch_tokens` tokens: first one decode token for every running
// sequence, then prompt chunks (chunked prefill) of sequences still prefilling and of newly
// admitted ones, oldest first. A step that decodes carries at most
// `max_prefill_tokens_while_decoding` prompt tokens, so that a long prefill does not stall the
// running streams for a whole max_batch_tokens chunk. A sequence is admitted when the KV cache has
// blocks for its prompt plus one block of headroom; KV blocks then grow one at a time as it
// decodes. When a decode cannot get a block, the most recently admitted sequence is preempted: its
// blocks are released and it waits at the front of the queue to be recomputed from its prompt and
// the tokens it already produced (the forward pass is batch-invariant, so its output does not
// change). Finished and cancelled sequences leave at the next step.
//
// KV blocks are handed out by a BlockManager (worker/block_manager.h), which the plan's chunks
// report to every rank (PlannedChunk::blocks). With prefix caching on, a sequence is admitted
// with the longest cached run of full blocks its context starts with (the request's cache
// salt included), and computes only the rest; every full block it computes is published for
// later sequences. A sequence that scores its prompt (score_prompt) computes it all. The same
// admission rule holds with the cached blocks counted: those that are free now count against
// the free blocks.
//
// A request with a grammar (SequenceRequest::grammar) is sampled under it (see
// worker/grammar_constraints.h): it is compiled at submit, so a grammar that does not parse is
// refused like any other invalid request; if the grammar allows no token at all (a vocabulary
// that cannot spell what it requires), the sequence finishes with Stop and no token.
//
// The group applies the plan to the real caches (the leader's KvCache and the peers' have the
// same number of blocks, and take their tables from the plan).
// Not thread-safe: the leader's step loop owns it.
#pragma once

#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <vector>

#include "base/status.h"
#include "model/sampler/sampler.h"
#include "wire/sequence.h"
#include "worker/block_manager.h"
#include "worker/grammar_constraints.h"
#include "worker/step_plan.h"

namespace shardserve {

struct SchedulerLimits {
  int64_t max_batch = 32;          // running sequences
  int64_t max_batch_tokens = 512;  // tokens per step
  // Prompt tokens in a step that also decodes (0: up to max_batch_tokens).
  int64_t max_prefill_tokens_while_decoding = 0;
  int64_t kv_blocks = 0;       // blocks in each rank's KV cache
  int64_t block_size = 16;     // positions per block
  int64_t context_length = 0;  // positions per sequence
  int64_t n_vocab = 0;         // valid token ids are [0, n_vocab) (>= 1)
  bool prefix_caching = true;  // reuse cached full blocks of earlier sequences
  // Speculative decoding by prompt lookup: with at most spec_max_batch sequences running, each
  // decode may carry up to spec_max_draft proposed tokens, verified in the same step (0: off).
  int64_t spec_max_draft = 0;
  int64_t spec_max_batch = 4;
};

// Counters of speculative decoding since the scheduler started.
struct SpecStats {
  int64_t proposed = 0;  // draft tokens run through the model
  int64_t accepted = 0;  // of them, the tokens decoding would have produced
};

// Counters of the prefix cache since the scheduler started.
struct PrefixCacheStats {
  int64_t prompt_tokens = 0;  // prompt tokens of admitted sequences (first admission only)
  int64_t hit_tokens = 0;     // of them, found in the cache
  int64_t cached_blocks = 0;  // blocks holding a published prefix now
  int64_t evictions = 0;      // cached blocks reused for other content
};

class Scheduler {
 public:
  // Rows of logits a step returns for prompt scoring at most (each n_vocab floats): a chunk
  // that scores a prompt is cut to what is left of it.
  static constexpr int64_t kMaxScoredRowsPerStep = 256;

  // `grammars`: the vocabulary's grammar support (outlives the scheduler); without it, requests
  // with a grammar are refused.
  explicit Scheduler(const SchedulerLimits& limits, GrammarConstraints* grammars = nullptr);

  // Queues a request. An Error (code kInvalidInput, nothing queued) if it can never run: an
  // empty prompt, a prompt plus one token longer than the context or larger than the whole KV
  // cache, a token id (prompt, stop tokens, logit bias) outside the vocabulary, an id in use.
  // This is the worker's one check of what a request asks of the model; the coordinator
  // validated the same at its door, so a refusal here means the two disagree.
  Status submit(SequenceRequest request);
  // Stops a sequence wherever it is; its finish event comes from the next on_step_done().
  // Unknown ids are ignored (idempotent).
  void cancel(int64_t id);

  bool has_work() const { return !waiting_.empty() || !running_.empty() || !pending_.empty(); }
  int64_t running() const { return static_cast<int64_t>(running_.size()); }
  int64_t waiting() const { return static_cast<int64_t>(waiting_.size()); }
  int64_t used_blocks() const { return blocks_.used_blocks(); }
  PrefixCacheStats prefix_cache_stats() const;
  SpecStats spec_stats() const { return {spec_proposed_, spec_accepted_}; }
  // Tokens sampled under a grammar, and how many of them needed its full mask (the model's
  // own choice was rejected).
  int64_t constrained_samples() const { return constrained_samples_; }
  int64_t masked_samples() const { return masked_samples_; }
  const SchedulerLimits& limits() const { return limits_; }

  // The next step. Sequences that finished or were cancelled are released in it.
  StepPlan next_plan();
  // Consumes the step's logits (one n_vocab row per chunk with need_logits, in plan order),
  // samples, and returns the step's events, including finishes of cancelled sequences.
  std::vector<TokenEvent> on_step_done(const StepPlan& plan, std::span<const float> logits);

 private:
  struct Sequence {
    SequenceRequest request;
    std::unique_ptr<Sampler> sampler;
    std::unique_ptr<SequenceGrammar> grammar;  // null: unconstrained
    std::vector<TokenId> generated;
    int64_t computed = 0;          // positions whose K/V are in the cache
    std::vector<int32_t> table;    // blocks held, in position order
    std::vector<int32_t> unsent;   // the end of `table` the ranks have not been told of yet
    std::vector<uint64_t> hashes;  // chain hashes of table's first blocks, once computed
    int64_t cached_tokens = 0;     // prompt tokens found in the prefix cache at admission
    bool admitted = false;         // ever (the first admission is the one counted)
    bool cancelled = false;
    // Speculation: the draft in the step being run, the next draft's length, and a pause after
    // drafts that were rejected outright (doubling with each such miss in a row).
    std::vector<TokenId> draft;
    int64_t spec_k = 4;
    int64_t spec_misses = 0;
    int64_t spec_pause = 0;
    int64_t scored = 1;  // score_prompt: the next prompt position to report
    // Whether a chunk of n tokens from `start` predicts a prompt position still to be scored
    // (its logits rows are wanted, not only its last).
    bool scores_in(int64_t start, int64_t n) const {
      return request.score_prompt && scored < static_cast<int64_t>(request.prompt.size()) &&
             start + n >= scored;
    }
    // Tokens that must be run through the model before sampling resumes: the prompt, then
    // (after a preemption) the tokens generated so far.
    int64_t context() const {
      return static_cast<int64_t>(request.prompt.size() + generated.size());
    }
    TokenId token_at(int64_t pos) const {
      const int64_t n_prompt = static_cast<int64_t>(request.prompt.size());
      return pos < n_prompt ? request.prompt[pos] : generated[pos - n_prompt];
    }
  };

  int64_t blocks_for(int64_t positions) const {
    return (positions + limits_.block_size - 1) / limits_.block_size;
  }
  int64_t free_blocks() const { return blocks_.free_blocks(); }
  int64_t blocks_held(const Sequence& s) const { return static_cast<int64_t>(s.table.size()); }
  bool grow(Sequence& s, int64_t positions);
  // Admits s with the longest cached prefix of its context (if any): false, and nothing
  // changed, when its blocks do not fit beside `outstanding` blocks promised to others.
  bool admit(Sequence& s, int64_t outstanding);
  // Publishes the full blocks s has computed since the last call.
  void publish_computed(Sequence& s);
  // Samples s's next token from `row_logits` and reports it (with `scores`) in `events`: the
  // token, or nothing when the sequence finished (it is then forgotten).
  std::optional<TokenId> sample_next(int64_t id, Sequence& s, std::span<const float> row_logits,
                                     std::vector<ScoredToken> scores,
                                     std::vector<TokenEvent>& events);
  // A step that ran s's last token and draft: samples each position in turn and keeps the
  // draft tokens that match, as plain decoding would have produced them.
  void verify_draft(int64_t id, Sequence& s, int64_t start_pos, std::span<const float> chunk_logits,
                    std::vector<TokenEvent>& events);
  // The draft s carries in this step (its blocks taken), at most max_tokens, or none.
  std::vector<TokenId> draft_for(Sequence& s, int64_t max_tokens);
  // Prompt lookup: what followed the latest earlier occurrence of the context's last n-gram.
  std::vector<TokenId> propose_draft(const Sequence& s) const;
  static constexpr int64_t kMaxNgram = 4, kMinNgram = 2;
  // Releases the sequence's blocks (in `released`, the plan being built) and requeues it.
  void preempt(int64_t id, std::vector<int64_t>& released);
  void release(int64_t id, std::vector<int64_t>& released);
  // The sequence is over: its blocks go in the next plan and it is forgotten.
  void finish(int64_t id);
  // The scores of the prompt positions that `chunk_logits` (a row per token of a chunk from
  // `start_pos`) predicts and that were not reported yet; advances s.scored.
  std::vector<ScoredToken> score_prompt(Sequence& s, int64_t start_pos,
                                        std::span<const float> chunk_logits);

  SchedulerLimits limits_;
  GrammarConstraints* grammars_;
  uint64_t next_step_ = 1;
  BlockManager blocks_;
  int64_t prefix_prompt_tokens_ = 0, prefix_hit_tokens_ = 0;
  int64_t spec_proposed_ = 0, spec_accepted_ = 0;
  std::map<int64_t, Sequence> sequences_;  // every live sequence, by id
  std::deque<int64_t> waiting_;            // not admitted (or preempted), in order
  std::vector<int64_t> running_;           // admitted, in admission order
  std::vector<TokenEvent> pending_;        // finish events to deliver with the next step
  std::vector<int64_t> to_release_;        // finished ids whose blocks go in the next plan
  int64_t constrained_samples_ = 0, masked_samples_ = 0;
};

}  // namespace shardserve
