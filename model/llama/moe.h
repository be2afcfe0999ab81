// The mixture-of-experts feed-forward block (Mixtral, Qwen3-MoE) with expert parallelism.
//
// Routing is llama.cpp's (build_moe_ffn, softmax gating with renormalised weights): the router's
// logits over all experts, a softmax, the n_used most probable experts (largest first), their
// probabilities divided by their sum (at least 2^-14). A token's output is
// y_0 * w_0 + y_1 * w_1 + ... in that order, y_j the selected expert's gated FFN.
//
// Expert parallelism: in a group of tp ranks each rank holds whole experts (a contiguous range,
// split_evenly), not a slice of every expert. Every rank computes the router for every token
// (replicated weights and inputs, so every rank knows every token's experts and weights), runs
// each of its experts once over the tokens routed to it (so a token's result does not depend on
// the rest of the batch), and writes y_j * w_j into slot j of the token; the other slots hold
// -0.0, which adds nothing (x + -0.0 == x for every x). One ShardCombiner sum of the slots over
// the ranks (every slot has exactly one owner) then gives every rank every slot, exactly, and
// each rank adds a token's slots in selection order: the same bits for every tp and batch.
// Traffic per layer: tokens x n_used x dim floats from each rank.
//
// Slicing every expert instead (MoeSplit::kSlices, for comparison and for groups larger than
// the expert count): each rank holds the columns shard.ffn of every expert, computes every
// routed expert over that slice, and sums its reduction segments' partials (fixed for every tp,
// parallel/shard_plan.h) into per-segment token outputs, w_0 * p_0 + w_1 * p_1 + ... in
// selection order; one ShardCombiner sum of the segments gives the output, the same bits for
// every tp and batch (though not the expert-parallel bits: the down products are summed per
// segment). Traffic per layer: tokens x dim floats per segment.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "base/thread_pool.h"
#include "model/kernels/cpu/matmul.h"
#include "model/llama/config.h"
#include "model/llama/weights.h"
#include "parallel/shard_combiner.h"
#include "parallel/shard_plan.h"

namespace shardserve {

// Routes one token: `selected` receives the n_used experts of highest probability under a
// softmax of `router_logits` (n_expert values), largest first, ties to the lower id; `weights`
// their probabilities renormalised to sum to 1.
void route_token(const float* router_logits, int64_t n_expert, int64_t n_used, int32_t* selected,
                 float* weights);

// The reduction segments of sliced experts (MoeSplit::kSlices): this rank's segments as global
// columns of an expert's FFN, how many each rank owns, and the first column the rank holds.
struct ExpertSlices {
  std::span<const Range> segments;
  std::span<const int> per_rank;
  int64_t local_begin = 0;
};

// One layer's MoE block over a step's tokens, reusing its scratch memory between calls.
class MoeBlock {
 public:
  // out[t] = sum_j w_j * expert_{sel_j}(xn[t]) for the n token rows of xn ([n][dim], the
  // normalized FFN input). The rank holds L.experts; with a combiner the group's ranks call this
  // together (tp = the number of ranks); without one the rank must hold every expert, whole.
  // `slices` (with a combiner): the rank holds a slice of every expert (MoeSplit::kSlices).
  // `one_token_chunk` (the llama.cpp arithmetic only: one flag per token, whether its chunk is
  // that one token): compute the router's logits in the order llama.cpp would for a sequence
  // run alone, which depends on its batch size (see moe.cc).
  void forward(const LlamaLayerWeights& L, const MoeSpec& spec, const float* xn, int64_t n,
               int64_t dim, ShardCombiner* combiner, int tp, ThreadPool& pool, float* out,
               const std::vector<bool>* one_token_chunk = nullptr,
               const ExpertSlices* slices = nullptr);

 private:
  // router_logits_, selected_ and weights_ for the n tokens.
  void route(const LlamaLayerWeights& L, const MoeSpec& spec, const float* xn, int64_t n,
             int64_t dim, ThreadPool& pool, const std::vector<bool>* one_token_chunk);
  // routed_ = the slots routed to expert e, and rows_ their tokens' inputs; false if none.
  bool gather(int32_t e, const float* xn, int64_t n, int64_t k, int64_t dim);
  // gate_ = act(gate(rows_)) * up(rows_) over the expert's columns this rank holds.
  void gated(const LlamaLayerWeights::Expert& x, int64_t dim, ThreadPool& pool);

  std::vector<float> router_logits_;  // [n][n_expert]
  std::vector<int32_t> selected_;     // [n][n_used]
  std::vector<float> weights_;        // [n][n_used]
  // slots_: [n][n_used][dim] (kExperts), [my segments][n][n_used][dim] (kSlices)
  std::vector<float> slots_, summed_;
  std::vector<int64_t> routed_;              // slots (t * n_used + j) routed to one expert
  std::vector<float> rows_, gate_, up_, y_;  // that expert's gathered inputs and outputs
  std::vector<float> segment_out_;           // [my segments][n][dim] (kSlices)
  std::vector<kernels::ColumnRange> local_segments_;
  kernels::ActivationRows xq_;
};

}  // namespace shardserve
