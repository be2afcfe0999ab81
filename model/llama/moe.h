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
#pragma once

#include <cstdint>
#include <vector>

#include "base/thread_pool.h"
#include "model/kernels/cpu/matmul.h"
#include "model/llama/config.h"
#include "model/llama/weights.h"
#include "parallel/shard_combiner.h"

namespace shardserve {

// Routes one token: `selected` receives the n_used experts of highest probability under a
// softmax of `router_logits` (n_expert values), largest first, ties to the lower id; `weights`
// their probabilities renormalised to sum to 1.
void route_token(const float* router_logits, int64_t n_expert, int64_t n_used, int32_t* selected,
                 float* weights);

// One layer's MoE block over a step's tokens, reusing its scratch memory between calls.
class MoeBlock {
 public:
  // out[t] = sum_j w_j * expert_{sel_j}(xn[t]) for the n token rows of xn ([n][dim], the
  // normalized FFN input). The rank holds L.experts; with a combiner the group's ranks call this
  // together (tp = the number of ranks); without one the rank must hold every expert.
  // `one_token_chunk` (the llama.cpp arithmetic only: one flag per token, whether its chunk is
  // that one token): compute the router's logits in the order llama.cpp would for a sequence
  // run alone, which depends on its batch size (see moe.cc).
  void forward(const LlamaLayerWeights& L, const MoeSpec& spec, const float* xn, int64_t n,
               int64_t dim, ShardCombiner* combiner, int tp, ThreadPool& pool, float* out,
               const std::vector<bool>* one_token_chunk = nullptr);

 private:
  std::vector<float> router_logits_;         // [n][n_expert]
  std::vector<int32_t> selected_;            // [n][n_used]
  std::vector<float> weights_;               // [n][n_used]
  std::vector<float> slots_, summed_;        // [n][n_used][dim]
  std::vector<int64_t> routed_;              // slots (t * n_used + j) routed to one expert
  std::vector<float> rows_, gate_, up_, y_;  // that expert's gathered inputs and outputs
  kernels::ActivationRows xq_;
};

}  // namespace shardserve
