// How the CUDA model stores each projection's weights on the device (model/cuda/
// cuda_llama_model.cc): the pure host decisions, no CUDA, built and unit-tested everywhere.
//
// A projection is the product of one activation row with several GGUF tensors stacked by rows
// into one output row (Q, K, V into qkv; gate, up into gu), or with one tensor (attn_output,
// ffn_down, the LM head). Each tensor (a "part") is stored one of two ways:
//   - quantized: its GGUF blocks, rows padded to quant_pitch(type, cols) bytes (16-byte aligned
//     rows, what the quantized GEMV of quant_gemv.cuh reads), for types quant_gemv_supports();
//   - f16: dequantized once at load (F32, F16, BF16, Q5_0, Q5_1: no GEMV for them).
// Consecutive parts of the same storage (f16, or quantized of one type) are stacked into one
// matrix; a part of another storage starts a new matrix. So a Q4_K_M file (Q4_K attn_q, attn_k,
// Q6_K attn_v) gets [Q; K] as one Q4_K matrix at output row 0 and V as a Q6_K matrix at row
// q_dim. Each matrix writes rows [row_begin, row_begin + rows) of the projection's output.
//
// Prefill (more than kGemvMaxCols tokens) dequantizes a quantized matrix into a scratch buffer
// of f16 and runs cuBLAS on it; a matrix larger than the scratch goes in row pieces of
// scratch_rows() rows (the LM head of a large vocabulary).
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "model/tensor_type.h"

namespace shardserve::gpu {

// Types the quantized GEMV reads (quant_gemv.cuh's gemv_supported() answers from here).
bool quant_gemv_supports(DType type);
// Bytes between rows of a quantized matrix on the device: row_bytes(type, cols) rounded up to
// a multiple of 16 (quant_gemv.cuh's quant_row_stride() answers from here).
size_t quant_pitch(DType type, int64_t cols);

// One GGUF tensor of a projection, as this shard uses it.
struct WeightPart {
  DType type = DType::F32;     // the tensor's type in the file
  int64_t rows = 0, cols = 0;  // the shard's slice
};

// One device matrix of a projection: parts [first_part, first_part + n_parts) stacked by rows.
struct PlannedMatrix {
  bool quantized = false;  // quantized blocks of `type`; else f16
  DType type = DType::F16;
  int64_t row_begin = 0;  // first output row this matrix writes
  int64_t rows = 0, cols = 0;
  size_t row_stride = 0;  // bytes between rows: quant_pitch(type, cols), or 2 * cols for f16
  int first_part = 0, n_parts = 0;

  size_t bytes() const { return row_stride * static_cast<size_t>(rows); }
};

// The matrices of a projection over `parts` (all of one column count, at least one part).
// `quantize` false: every part f16 (the dequantize-at-load path, for comparisons). Aborts on
// parts of differing column counts (a violated precondition).
std::vector<PlannedMatrix> plan_projection(const std::vector<WeightPart>& parts, bool quantize);

// Rows of a quantized matrix of `cols` columns dequantized at once into a scratch buffer of
// `scratch_elems` f16 elements: min(rows, scratch_elems / cols), at least 1 (precondition:
// scratch_elems >= cols).
int64_t scratch_rows(int64_t rows, int64_t cols, int64_t scratch_elems);

// Bytes of the GEMV's activation workspace for inputs of up to max_cols columns and n_cols
// activation rows: quant_gemv.cuh's activation_bytes() layout (n_cols * max_cols int8 quants
// rounded up to 16 bytes, then 8 bytes per 32-column block per row). max_cols % 32 == 0.
size_t gemv_workspace_bytes(int64_t max_cols, int n_cols);

}  // namespace shardserve::gpu
