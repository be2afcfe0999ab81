// RMSNorm of token rows: out[r][i] = x[r][i] / sqrt(mean(x[r]^2) + eps) * weight[i].
//
// The arithmetic of the CPU reference (kernels::rms_norm): squares rounded to float and summed
// in double (here in another order, which double makes immaterial), the scale 1 / sqrt(mean +
// eps) in float, then (x * scale) * weight, each product rounded. The f16 output feeds a GEMM.
// Launch: one block of 256 threads per row. Pointers are device pointers; out may alias x only
// for the float output. Asynchronous on `stream`.
#pragma once

#include <cuda_fp16.h>
#include <cuda_runtime_api.h>

#include <cstdint>

namespace shardserve::gpu {

// For r < n_rows: row r of x starts at x + r * ldx, of out at out + r * ld_out; dim elements.
void rms_norm(const float* x, int64_t ldx, const float* weight, float eps, int64_t n_rows,
              int64_t dim, float* out, int64_t ld_out, cudaStream_t stream);
void rms_norm(const float* x, int64_t ldx, const float* weight, float eps, int64_t n_rows,
              int64_t dim, __half* out, int64_t ld_out, cudaStream_t stream);

}  // namespace shardserve::gpu
