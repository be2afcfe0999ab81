// The projections of the forward pass as cuBLAS GEMMs: f16 weights and activations, f32
// accumulation and output (tensor cores on sm_80 / sm_90).
//
// Row-major on both sides, the layout of every other buffer here:
//   y[t * ldy + r] = sum_c w[r * ldw + c] * x[t * ldx + c]   (+ beta * y[t * ldy + r])
// for r < n_out (output features, the weight's rows), t < n_tokens, c < n_in.
// cuBLAS is column-major, so this is the column-major product Y^T = W^T^T X^T, i.e.
// GemmEx(op(A) = T, op(B) = N, m = n_out, n = n_tokens, k = n_in, A = w (lda = ldw),
// B = x (ldb = ldx), C = y (ldc = ldy)).
// Asynchronous on the handle's stream; aborts (naming the call) on a cuBLAS error.
#pragma once

#include <cublas_v2.h>
#include <cuda_fp16.h>

#include <cstdint>

namespace shardserve::gpu {

void gemm_f16(cublasHandle_t handle, const __half* w, int64_t ldw, const __half* x, int64_t ldx,
              float* y, int64_t ldy, int64_t n_out, int64_t n_in, int64_t n_tokens,
              float beta = 0.0f);

}  // namespace shardserve::gpu
