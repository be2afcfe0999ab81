#include "model/cuda/elementwise.cuh"

#include "base/check.h"
#include "model/cuda/cuda_check.h"

namespace shardserve::gpu {
namespace {

constexpr int kThreads = 256;

__device__ inline void store(float* p, float v) {
  *p = v;
}
__device__ inline void store(__half* p, float v) {
  *p = __float2half_rn(v);
}

unsigned blocks_for(int64_t n) {
  const int64_t blocks = (n + kThreads - 1) / kThreads;
  SS_CHECK(blocks <= 0x7fffffff, "element-wise launch too large");
  return static_cast<unsigned>(blocks);
}

template <typename Out>
__global__ void __launch_bounds__(kThreads)
    silu_mul_kernel(const float* gate, const float* up, int64_t ld_in, int64_t n_rows, int64_t n,
                    Out* out, int64_t ld_out) {
  const int64_t id = blockIdx.x * static_cast<int64_t>(kThreads) + threadIdx.x;
  if (id >= n_rows * n) return;
  const int64_t r = id / n, i = id % n;
  const float g = gate[r * ld_in + i];
  const float silu = __fdiv_rn(g, __fadd_rn(1.0f, expf(-g)));
  store(out + r * ld_out + i, __fmul_rn(silu, up[r * ld_in + i]));
}

__global__ void __launch_bounds__(kThreads) add_kernel(float* x, const float* y, int64_t n) {
  const int64_t i = blockIdx.x * static_cast<int64_t>(kThreads) + threadIdx.x;
  if (i < n) x[i] = __fadd_rn(x[i], y[i]);
}

__global__ void __launch_bounds__(kThreads)
    add_bias_kernel(float* y, int64_t ldy, const float* bias, int64_t n_rows, int64_t n) {
  const int64_t id = blockIdx.x * static_cast<int64_t>(kThreads) + threadIdx.x;
  if (id >= n_rows * n) return;
  const int64_t r = id / n, i = id % n;
  y[r * ldy + i] = __fadd_rn(y[r * ldy + i], bias[i]);
}

__global__ void __launch_bounds__(kThreads)
    to_f16_kernel(const float* x, int64_t ldx, int64_t n_rows, int64_t n, __half* out,
                  int64_t ld_out) {
  const int64_t id = blockIdx.x * static_cast<int64_t>(kThreads) + threadIdx.x;
  if (id >= n_rows * n) return;
  const int64_t r = id / n, i = id % n;
  out[r * ld_out + i] = __float2half_rn(x[r * ldx + i]);
}

template <typename Out>
void launch_silu_mul(const float* gate, const float* up, int64_t ld_in, int64_t n_rows, int64_t n,
                     Out* out, int64_t ld_out, cudaStream_t stream) {
  SS_CHECK(n_rows >= 0 && n >= 0 && ld_in >= n && ld_out >= n);
  if (n_rows * n == 0) return;
  silu_mul_kernel<<<blocks_for(n_rows * n), kThreads, 0, stream>>>(gate, up, ld_in, n_rows, n, out,
                                                                   ld_out);
  CUDA_CHECK_LAUNCH("silu_mul");
}

}  // namespace

void silu_mul(const float* gate, const float* up, int64_t ld_in, int64_t n_rows, int64_t n,
              __half* out, int64_t ld_out, cudaStream_t stream) {
  launch_silu_mul(gate, up, ld_in, n_rows, n, out, ld_out, stream);
}

void silu_mul(const float* gate, const float* up, int64_t ld_in, int64_t n_rows, int64_t n,
              float* out, int64_t ld_out, cudaStream_t stream) {
  launch_silu_mul(gate, up, ld_in, n_rows, n, out, ld_out, stream);
}

void add_inplace(float* x, const float* y, int64_t n, cudaStream_t stream) {
  SS_CHECK(n >= 0);
  if (n == 0) return;
  add_kernel<<<blocks_for(n), kThreads, 0, stream>>>(x, y, n);
  CUDA_CHECK_LAUNCH("add_inplace");
}

void add_bias(float* y, int64_t ldy, const float* bias, int64_t n_rows, int64_t n,
              cudaStream_t stream) {
  SS_CHECK(n_rows >= 0 && n >= 0 && ldy >= n);
  if (n_rows * n == 0) return;
  add_bias_kernel<<<blocks_for(n_rows * n), kThreads, 0, stream>>>(y, ldy, bias, n_rows, n);
  CUDA_CHECK_LAUNCH("add_bias");
}

void to_f16(const float* x, int64_t ldx, int64_t n_rows, int64_t n, __half* out, int64_t ld_out,
            cudaStream_t stream) {
  SS_CHECK(n_rows >= 0 && n >= 0 && ldx >= n && ld_out >= n);
  if (n_rows * n == 0) return;
  to_f16_kernel<<<blocks_for(n_rows * n), kThreads, 0, stream>>>(x, ldx, n_rows, n, out, ld_out);
  CUDA_CHECK_LAUNCH("to_f16");
}

}  // namespace shardserve::gpu
