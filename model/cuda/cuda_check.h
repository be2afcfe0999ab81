// Error checks for the CUDA runtime and cuBLAS that name the failing call.
//
//   CUDA_CHECK(cudaMemcpy(...));   // aborts with file:line, the call's text and the error
//   CUBLAS_CHECK(cublasGemmEx(...));
//   CUDA_CHECK_LAUNCH("rms_norm"); // after a kernel launch: a bad configuration is caught here
//
// These are for failures that leave the rank unable to continue (a lost device, a kernel
// launched with impossible sizes): they print and abort, and the group is restarted
// (ARCHITECTURE.md, "Errors"). Expected failures (no device, not enough memory for the weights at
// load) are Errors built with cuda_error_message() / cublas_error_message() instead.
// Host code only; safe to include from .cc files compiled by the C++ compiler.
#pragma once

#include <cublas_v2.h>
#include <cuda_runtime_api.h>

#include <string>

namespace shardserve::gpu {

// "cudaMalloc(&p, bytes) failed: out of memory (cudaErrorMemoryAllocation)"
std::string cuda_error_message(const char* call, cudaError_t error);
// "cublasGemmEx(...) failed: CUBLAS_STATUS_INVALID_VALUE (an unsupported value or parameter ...)"
std::string cublas_error_message(const char* call, cublasStatus_t status);

[[noreturn]] void cuda_fatal(const char* file, int line, const std::string& message);

}  // namespace shardserve::gpu

#define CUDA_CHECK(call)                                                                           \
  do {                                                                                             \
    const cudaError_t ss_cuda_error_ = (call);                                                     \
    if (ss_cuda_error_ != cudaSuccess)                                                             \
      ::shardserve::gpu::cuda_fatal(__FILE__, __LINE__,                                            \
                                    ::shardserve::gpu::cuda_error_message(#call, ss_cuda_error_)); \
  } while (0)

#define CUBLAS_CHECK(call)                                                                        \
  do {                                                                                            \
    const cublasStatus_t ss_cublas_status_ = (call);                                              \
    if (ss_cublas_status_ != CUBLAS_STATUS_SUCCESS)                                               \
      ::shardserve::gpu::cuda_fatal(                                                              \
          __FILE__, __LINE__, ::shardserve::gpu::cublas_error_message(#call, ss_cublas_status_)); \
  } while (0)

// After a <<<...>>> launch: reports an invalid launch configuration at once (errors inside the
// kernel surface at the next synchronizing call, which CUDA_CHECK reports).
#define CUDA_CHECK_LAUNCH(kernel_name)                                                             \
  do {                                                                                             \
    const cudaError_t ss_cuda_error_ = cudaGetLastError();                                         \
    if (ss_cuda_error_ != cudaSuccess)                                                             \
      ::shardserve::gpu::cuda_fatal(                                                               \
          __FILE__, __LINE__,                                                                      \
          ::shardserve::gpu::cuda_error_message("launch of kernel " kernel_name, ss_cuda_error_)); \
  } while (0)
