#include "model/cuda/rms_norm.cuh"

#include "base/check.h"
#include "model/cuda/block_reduce.cuh"
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

template <typename Out>
__global__ void __launch_bounds__(kThreads)
    rms_norm_kernel(const float* x, int64_t ldx, const float* weight, float eps, int64_t dim,
                    Out* out, int64_t ld_out) {
  const float* row = x + blockIdx.x * ldx;
  double sum = 0.0;
  for (int64_t i = threadIdx.x; i < dim; i += kThreads)
    sum += static_cast<double>(__fmul_rn(row[i], row[i]));
  sum = block_sum(sum);
  const float mean = static_cast<float>(sum / static_cast<double>(dim));
  const float scale = __fdiv_rn(1.0f, __fsqrt_rn(__fadd_rn(mean, eps)));
  Out* o = out + blockIdx.x * ld_out;
  for (int64_t i = threadIdx.x; i < dim; i += kThreads)
    store(o + i, __fmul_rn(__fmul_rn(row[i], scale), weight[i]));
}

template <typename Out>
void launch(const float* x, int64_t ldx, const float* weight, float eps, int64_t n_rows,
            int64_t dim, Out* out, int64_t ld_out, cudaStream_t stream) {
  SS_CHECK(n_rows >= 0 && n_rows <= 0x7fffffff && dim > 0 && ldx >= dim && ld_out >= dim);
  if (n_rows == 0) return;
  rms_norm_kernel<<<static_cast<unsigned>(n_rows), kThreads, 0, stream>>>(x, ldx, weight, eps, dim,
                                                                          out, ld_out);
  CUDA_CHECK_LAUNCH("rms_norm");
}

}  // namespace

void rms_norm(const float* x, int64_t ldx, const float* weight, float eps, int64_t n_rows,
              int64_t dim, float* out, int64_t ld_out, cudaStream_t stream) {
  launch(x, ldx, weight, eps, n_rows, dim, out, ld_out, stream);
}

void rms_norm(const float* x, int64_t ldx, const float* weight, float eps, int64_t n_rows,
              int64_t dim, __half* out, int64_t ld_out, cudaStream_t stream) {
  launch(x, ldx, weight, eps, n_rows, dim, out, ld_out, stream);
}

}  // namespace shardserve::gpu
