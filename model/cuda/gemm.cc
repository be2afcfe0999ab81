#include "model/cuda/gemm.h"

#include "base/check.h"
#include "model/cuda/cuda_check.h"

namespace shardserve::gpu {

void gemm_f16(cublasHandle_t handle, const __half* w, int64_t ldw, const __half* x, int64_t ldx,
              float* y, int64_t ldy, int64_t n_out, int64_t n_in, int64_t n_tokens, float beta) {
  constexpr int64_t kMax = 0x7fffffff;  // cuBLAS takes int sizes
  SS_CHECK(n_out > 0 && n_in > 0 && n_tokens >= 0 && n_out <= kMax && n_in <= kMax &&
           n_tokens <= kMax && ldw >= n_in && ldx >= n_in && ldy >= n_out && ldw <= kMax &&
           ldx <= kMax && ldy <= kMax);
  if (n_tokens == 0) return;
  const float alpha = 1.0f;
  CUBLAS_CHECK(cublasGemmEx(handle, CUBLAS_OP_T, CUBLAS_OP_N, static_cast<int>(n_out),
                            static_cast<int>(n_tokens), static_cast<int>(n_in), &alpha, w,
                            CUDA_R_16F, static_cast<int>(ldw), x, CUDA_R_16F, static_cast<int>(ldx),
                            &beta, y, CUDA_R_32F, static_cast<int>(ldy), CUBLAS_COMPUTE_32F,
                            CUBLAS_GEMM_DEFAULT));
}

}  // namespace shardserve::gpu
