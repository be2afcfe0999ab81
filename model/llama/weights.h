// One rank's view of a decoder's weights (every family of model/llama/family.h): every tensor
// checked for type and shape at load ("tensor 'X' has shape [..], expected [..]") and sliced for
// the rank's shard (parallel/shard_plan.h). Whole rows (column-parallel slices, replicated tensors)
// point into the mapped GGUF file, so a rank's resident pages are only the rows it reads. Column
// slices of row-parallel tensors (attention-out, FFN-down when tp > 1) would share pages with the
// other ranks' slices, so they are copied into memory the weights own and the mapped pages
// are dropped. Where the CPU runs the packed quant kernel (model/kernels/cpu/packed_quant.h),
// projections and the LM head of a type with panels (the legacy and K-quants) are instead packed
// into panels the weights own, and their mapped pages dropped (token_embd stays mapped for
// lookups). Fused tensors (attn_qkv; Phi-3's ffn_up holding gate and up) become row views, so
// the forward pass never sees them. The File must outlive the weights.
#pragma once

#include <memory>
#include <vector>

#include "base/status.h"
#include "model/gguf/gguf.h"
#include "model/kernels/cpu/matmul.h"
#include "model/llama/config.h"
#include "parallel/shard_plan.h"

namespace shardserve {

using kernels::WeightMatrix;

struct LlamaLayerWeights {
  const float* attn_norm = nullptr;  // [dim]
  WeightMatrix wq;                   // rows: local q heads * head_dim, cols: dim
  WeightMatrix wk;                   // rows: local kv heads * head_dim, cols: dim
  WeightMatrix wv;                   // rows: local kv heads * head_dim, cols: dim
  const float* bq = nullptr;         // optional biases (qwen2), sliced like the rows
  const float* bk = nullptr;
  const float* bv = nullptr;
  const float* q_norm = nullptr;  // [head_dim] per-head RMSNorm weights (traits.qk_norm)
  const float* k_norm = nullptr;
  WeightMatrix wo;  // rows: dim, cols: local q heads * head_dim (row-parallel)
  const float* post_attn_norm = nullptr;  // [dim] norm of the attention output (post_norms)
  const float* ffn_norm = nullptr;        // [dim]
  WeightMatrix w_gate;                    // rows: local ffn, cols: dim
  WeightMatrix w_up;                      // rows: local ffn, cols: dim
  WeightMatrix w_down;                    // rows: dim, cols: local ffn (row-parallel)
  const float* post_ffn_norm = nullptr;   // [dim] norm of the FFN output (post_norms)
  // Mixture of experts (config.moe) instead of the dense gate/up/down: the router (replicated)
  // and this rank's experts (ExpertShard), views of the stacked ffn_*_exps tensors.
  struct Expert {
    WeightMatrix gate, up;  // rows: the shard's expert FFN columns, cols: dim
    WeightMatrix down;      // rows: dim, cols: the shard's expert FFN columns (row-parallel)
  };
  WeightMatrix router;          // rows: n_expert, cols: dim
  std::vector<Expert> experts;  // experts [first_expert, first_expert + experts.size())
  int64_t first_expert = 0;
};

struct LlamaWeights {
  WeightMatrix token_embd;             // rows: n_vocab, cols: dim (replicated)
  const float* output_norm = nullptr;  // [dim]
  WeightMatrix output;                 // LM head, rows: shard.vocab (of token_embd when tied)
  const float* rope_freqs = nullptr;   // optional [n_rot / 2]
  std::vector<LlamaLayerWeights> layers;
  std::vector<std::unique_ptr<uint8_t[]>> owned;  // storage of copied column slices
  std::vector<kernels::AlignedBytes> panels;      // storage of packed quant panels
};

// What a rank holds of a mixture-of-experts model: the experts [experts.begin, experts.end),
// and of each the FFN columns `columns` (gate and up rows, down columns; empty: all of them).
// Expert parallelism gives a rank whole experts; MoeSplit::kSlices every expert's shard.ffn.
struct ExpertShard {
  Range experts;
  Range columns;
};

// `pack`: whether to pack quant panels where the CPU runs them (else the row dots are used).
// `experts`: what the rank holds of the experts (mixture-of-experts models; ignored by dense ones).
Result<LlamaWeights> load_llama_weights(const gguf::File& file, const LlamaConfig& config,
                                        const TransformerShard& shard, bool pack = true,
                                        ExpertShard experts = {});

}  // namespace shardserve
