// Element-wise steps of the forward pass: SwiGLU, residual add, bias add, f32 -> f16.
//
// Row layouts take a leading dimension (elements between consecutive token rows), so that the
// outputs of a fused GEMM can be read in place (gate and up side by side in one row, or Q, K, V).
// All pointers are device pointers; every launch is asynchronous on `stream` and uses 256
// threads per block, one thread per element (grid-stride beyond 2^31 / 256 blocks is not
// needed: sizes are checked to fit).
#pragma once

#include <cuda_fp16.h>
#include <cuda_runtime_api.h>

#include <cstdint>

namespace shardserve::gpu {

// out[r][i] = silu(gate[r][i]) * up[r][i], silu(v) = v / (1 + e^-v), for r < n_rows, i < n.
// gate row r at gate + r * ld_in, up row r at up + r * ld_in, out row r at out + r * ld_out.
// e^-v is the device's expf (within 2 ulp), not the CPU's ggml polynomial: results agree with
// kernels::silu_mul to a few ulp, not bit for bit.
void silu_mul(const float* gate, const float* up, int64_t ld_in, int64_t n_rows, int64_t n,
              __half* out, int64_t ld_out, cudaStream_t stream);
void silu_mul(const float* gate, const float* up, int64_t ld_in, int64_t n_rows, int64_t n,
              float* out, int64_t ld_out, cudaStream_t stream);

// x[i] += y[i] for i < n (the residual connection). x and y may not overlap partially.
void add_inplace(float* x, const float* y, int64_t n, cudaStream_t stream);

// y[r][i] += bias[i] for r < n_rows, i < n; row r at y + r * ldy.
void add_bias(float* y, int64_t ldy, const float* bias, int64_t n_rows, int64_t n,
              cudaStream_t stream);

// out[r][i] = f16(x[r][i]) (round to nearest even).
void to_f16(const float* x, int64_t ldx, int64_t n_rows, int64_t n, __half* out, int64_t ld_out,
            cudaStream_t stream);

}  // namespace shardserve::gpu
