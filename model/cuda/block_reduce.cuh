// Warp and block reductions shared by the kernels (device code: include from .cu files only).
// Every thread of the block must call a block_* function (they synchronize); all threads get
// the result. Preconditions: blockDim.x is a multiple of 32 and at most 1024.
#pragma once

#include <cuda_runtime.h>

namespace shardserve::gpu {

template <typename T>
__device__ inline T warp_sum(T v) {
  for (int offset = 16; offset > 0; offset /= 2) v += __shfl_xor_sync(0xffffffffu, v, offset);
  return v;
}

__device__ inline float warp_max(float v) {
  for (int offset = 16; offset > 0; offset /= 2)
    v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, offset));
  return v;
}

template <typename T>
__device__ inline T block_sum(T v) {
  __shared__ T partial[32];
  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32, n_warps = blockDim.x / 32;
  v = warp_sum(v);
  __syncthreads();  // `partial` may still be read by a previous call
  if (lane == 0) partial[warp] = v;
  __syncthreads();
  T total = lane < n_warps ? partial[lane] : T(0);
  return warp_sum(total);
}

__device__ inline float block_max(float v) {
  __shared__ float partial[32];
  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32, n_warps = blockDim.x / 32;
  v = warp_max(v);
  __syncthreads();
  if (lane == 0) partial[warp] = v;
  __syncthreads();
  const float m = lane < n_warps ? partial[lane] : -INFINITY;
  return warp_max(m);
}

}  // namespace shardserve::gpu
