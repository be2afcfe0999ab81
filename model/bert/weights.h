// One rank's view of a BERT encoder's weights (HuggingFace BertModel tensor names, with or
// without a "bert." prefix): every tensor checked for dtype (F32) and shape at load ("tensor
// 'encoder.layer.3.attention.self.query.weight' has shape [..], expected [..]") and sliced for
// the rank's shard (parallel/shard_plan.h: a TransformerShard of heads and FFN columns with
// n_kv_heads = n_heads). PyTorch's Linear stores weight[out][in], which is WeightMatrix's row
// layout. Every linear's slice (rows of the column-parallel ones, columns of the row-parallel
// ones) is packed into panels (kernels/cpu/packed_f32.h) that the weights own, and the mapped
// pages of the file's copy are dropped; WeightMatrix::data still views the file. Embedding
// tables and vectors point into the mapped file, or into a copy where their data is not 4-byte
// aligned (safetensors promises no alignment). The File must outlive the weights.
#pragma once

#include <memory>
#include <vector>

#include "base/status.h"
#include "model/bert/config.h"
#include "model/kernels/cpu/matmul.h"
#include "model/kernels/cpu/packed_f32.h"
#include "model/safetensors/safetensors.h"
#include "parallel/shard_plan.h"

namespace shardserve {

struct BertLayerWeights {
  kernels::WeightMatrix wq, wk, wv;  // rows: local heads * head_dim, cols: dim
  const float* bq = nullptr;         // [local heads * head_dim], sliced like the rows
  const float* bk = nullptr;
  const float* bv = nullptr;
  kernels::WeightMatrix wo;   // attention.output.dense, rows: dim, cols: local heads * head_dim
  const float* bo = nullptr;  // [dim], added once after the reduction
  const float* attn_norm_w = nullptr;  // attention.output.LayerNorm [dim]
  const float* attn_norm_b = nullptr;
  kernels::WeightMatrix w_up;         // intermediate.dense, rows: local ffn, cols: dim
  const float* b_up = nullptr;        // [local ffn]
  kernels::WeightMatrix w_down;       // output.dense, rows: dim, cols: local ffn (row-parallel)
  const float* b_down = nullptr;      // [dim], added once after the reduction
  const float* ffn_norm_w = nullptr;  // output.LayerNorm [dim]
  const float* ffn_norm_b = nullptr;
};

struct BertWeights {
  const float* word_embd = nullptr;    // [n_vocab][dim] (replicated)
  const float* pos_embd = nullptr;     // [max_positions][dim]
  const float* type_embd = nullptr;    // [n_token_types][dim]
  const float* embd_norm_w = nullptr;  // embeddings.LayerNorm [dim]
  const float* embd_norm_b = nullptr;
  std::vector<BertLayerWeights> layers;
  std::vector<kernels::AlignedFloats> owned;  // storage of panels and copied tensors
};

Result<BertWeights> load_bert_weights(const safetensors::File& file, const BertConfig& config,
                                      const TransformerShard& shard);

}  // namespace shardserve
