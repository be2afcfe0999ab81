// Products with weights kept as GGUF quant blocks on the device (issue 18, item 2): a GEMV for
// decode batches of 1..8 tokens that reads each weight byte once per call, and a dequantizer to
// f16 for the prefill path (dequantize into scratch, then cuBLAS).
//
// GEMV design (quant_gemv_kernels.cuh has the device code):
//   1. quantize_activations: each 32-element block of each activation row becomes 32 int8 quants
//      q = round(x * 127 / amax) and a float pair (d = amax / 127, d * sum(q)), as ggml's Q8_1.
//   2. gemv_q8: one warp per weight row. The warp streams its row through shared memory in tiles
//      of 128 32-element units (16-byte coalesced loads, the next tile's loads in flight while
//      the current one is computed); each lane decodes whole units from shared memory into 8
//      packed int8x4 words and takes __dp4a integer dot products with the activation quants of
//      each of the n_cols columns; per-unit float scales; the lanes' partial sums meet in warp
//      shuffles; lane 0 writes y (f32).
// Error: besides float rounding, the 8-bit activations: |x - x^| <= amax / 254 per element of a
// 32-element block, so |y - y_exact| <= sum over blocks of amax_b / 254 * sum_{i in b} |w_i|.
//
// Supported weight types: Q4_0, Q4_1, Q8_0, Q2_K, Q3_K, Q4_K, Q5_K, Q6_K (gemv_supported()).
//
// Layout: row r of the matrix is `cols` elements of `type` (whole blocks) at data + r * row_stride
// bytes. The GEMV needs data 16-byte aligned and row_stride a multiple of 16 (rows padded past
// their row_bytes(type, cols); quant_row_stride() gives the smallest such stride): upload the
// GGUF rows with cudaMemcpy2D to that pitch. The padding is read (up to 15 bytes per row), never
// used. Activations: row c of x is x + c * ldx, `cols` elements; output row c is y + c * ldy,
// `rows` elements.
//
// All calls are asynchronous on `stream`, allocate nothing and are safe to capture in a CUDA
// graph. Preconditions are checked on the host (abort with a message). Thread-safety: none needed
// beyond the stream's (no global state).
#pragma once

#include <cuda_fp16.h>
#include <cuda_runtime_api.h>

#include <cstddef>
#include <cstdint>

#include "model/tensor_type.h"

namespace shardserve::gpu {

// A weight matrix [rows][cols] of quant blocks on the device (not owned).
struct QuantMatrix {
  const void* data = nullptr;  // 16-byte aligned device pointer
  DType type = DType::Q4_0;
  int64_t rows = 0, cols = 0;  // cols a multiple of the type's block size
  size_t row_stride = 0;       // bytes between rows: >= row_bytes(type, cols), a multiple of 16
};

// The largest activation batch gemv takes; beyond it, dequantize_to_f16 into scratch + cuBLAS.
inline constexpr int kGemvMaxCols = 8;

bool gemv_supported(DType type);
// row_bytes(type, cols) rounded up to a multiple of 16.
size_t quant_row_stride(DType type, int64_t cols);

// Activations quantized to 8 bits, in caller-owned device memory (see activation_bytes).
struct QuantActivations {
  int8_t* q = nullptr;   // [n][cols] quants, rows 16-byte aligned
  float2* ds = nullptr;  // [n][cols / 32] (d, d * sum of the block's quants)
  int64_t cols = 0;
  int n = 0;
};
// Device bytes for n rows of cols activations; `bind` lays a QuantActivations over `workspace`
// (16-byte aligned, at least activation_bytes(cols, n) bytes). cols % 32 == 0.
size_t activation_bytes(int64_t cols, int n);
QuantActivations bind_activations(void* workspace, int64_t cols, int n);

// Step 1: quantize n <= kGemvMaxCols rows of x (f32 or f16) into `out` (bound for >= n, cols).
void quantize_activations(const float* x, int64_t ldx, int n, const QuantActivations& out,
                          cudaStream_t stream);
void quantize_activations(const __half* x, int64_t ldx, int n, const QuantActivations& out,
                          cudaStream_t stream);

// Step 2: y[c][r] (+)= sum_k W[r][k] * x^[c][k] for c < x.n, r < w.rows; `accumulate` adds to y
// (residual connections) instead of overwriting it. x.cols == w.cols.
void gemv_q8(const QuantMatrix& w, const QuantActivations& x, float* y, int64_t ldy,
             bool accumulate, cudaStream_t stream);

// Both steps; `workspace` holds activation_bytes(w.cols, n_cols). 1 <= n_cols <= kGemvMaxCols.
void gemv(const QuantMatrix& w, const float* x, int64_t ldx, int n_cols, float* y, int64_t ldy,
          bool accumulate, void* workspace, cudaStream_t stream);
void gemv(const QuantMatrix& w, const __half* x, int64_t ldx, int n_cols, float* y, int64_t ldy,
          bool accumulate, void* workspace, cudaStream_t stream);

// The whole matrix as f16, row-major: dst[r * ld_dst + c]. Any dequantize_supported() type
// (model/cuda/dequantize.cuh; the K-quants included); no alignment needed. Values: the CPU scalar
// reference's f32 rounded to f16.
void dequantize_to_f16(const QuantMatrix& w, __half* dst, int64_t ld_dst, cudaStream_t stream);

}  // namespace shardserve::gpu
