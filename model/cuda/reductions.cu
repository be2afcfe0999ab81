#include "model/cuda/reductions.cuh"

#include "base/check.h"
#include "model/cuda/block_reduce.cuh"
#include "model/cuda/cuda_check.h"

namespace shardserve::gpu {
namespace {

constexpr int kThreads = 256;

// (value, index) pairs ordered so that the better one wins: larger value, then lower index;
// NaN loses to everything.
__device__ inline bool better(float v, int32_t i, float best_v, int32_t best_i) {
  if (isnan(v)) return false;
  if (isnan(best_v)) return true;
  return v > best_v || (v == best_v && i < best_i);
}

__global__ void __launch_bounds__(kThreads)
    argmax_kernel(const float* logits, int64_t ld, int64_t n_cols, int32_t* out) {
  const float* row = logits + blockIdx.x * ld;
  float best_v = NAN;
  int32_t best_i = 0x7fffffff;
  for (int64_t i = threadIdx.x; i < n_cols; i += kThreads) {
    if (better(row[i], static_cast<int32_t>(i), best_v, best_i)) {
      best_v = row[i];
      best_i = static_cast<int32_t>(i);
    }
  }
  for (int offset = 16; offset > 0; offset /= 2) {
    const float v = __shfl_xor_sync(0xffffffffu, best_v, offset);
    const int32_t i = __shfl_xor_sync(0xffffffffu, best_i, offset);
    if (better(v, i, best_v, best_i)) {
      best_v = v;
      best_i = i;
    }
  }
  __shared__ float warp_v[kThreads / 32];
  __shared__ int32_t warp_i[kThreads / 32];
  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
  if (lane == 0) {
    warp_v[warp] = best_v;
    warp_i[warp] = best_i;
  }
  __syncthreads();
  if (threadIdx.x == 0) {
    for (int w = 1; w < kThreads / 32; ++w)
      if (better(warp_v[w], warp_i[w], best_v, best_i)) {
        best_v = warp_v[w];
        best_i = warp_i[w];
      }
    out[blockIdx.x] = isnan(best_v) ? 0 : best_i;
  }
}

__global__ void __launch_bounds__(kThreads)
    softmax_stats_kernel(const float* logits, int64_t ld, int64_t n_cols, float* max,
                         float* sum_exp) {
  const float* row = logits + blockIdx.x * ld;
  float m = -INFINITY;
  for (int64_t i = threadIdx.x; i < n_cols; i += kThreads) m = fmaxf(m, row[i]);
  m = block_max(m);
  float s = 0.0f;
  for (int64_t i = threadIdx.x; i < n_cols; i += kThreads) s += expf(row[i] - m);
  s = block_sum(s);
  if (threadIdx.x == 0) {
    max[blockIdx.x] = m;
    sum_exp[blockIdx.x] = s;
  }
}

void check_rows(int64_t ld, int64_t n_rows, int64_t n_cols) {
  SS_CHECK(n_rows >= 0 && n_rows <= 0x7fffffff && n_cols > 0 && n_cols <= 0x7fffffff &&
           ld >= n_cols);
}

}  // namespace

void argmax_rows(const float* logits, int64_t ld, int64_t n_rows, int64_t n_cols, int32_t* out,
                 cudaStream_t stream) {
  check_rows(ld, n_rows, n_cols);
  if (n_rows == 0) return;
  argmax_kernel<<<static_cast<unsigned>(n_rows), kThreads, 0, stream>>>(logits, ld, n_cols, out);
  CUDA_CHECK_LAUNCH("argmax_rows");
}

void softmax_stats_rows(const float* logits, int64_t ld, int64_t n_rows, int64_t n_cols, float* max,
                        float* sum_exp, cudaStream_t stream) {
  check_rows(ld, n_rows, n_cols);
  if (n_rows == 0) return;
  softmax_stats_kernel<<<static_cast<unsigned>(n_rows), kThreads, 0, stream>>>(logits, ld, n_cols,
                                                                               max, sum_exp);
  CUDA_CHECK_LAUNCH("softmax_stats_rows");
}

}  // namespace shardserve::gpu
