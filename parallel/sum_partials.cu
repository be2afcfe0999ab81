#include "parallel/sum_partials.h"

namespace shardserve {
namespace {
__global__ void sum_partials_kernel(const float* parts, int n_parts, int64_t n, float* out) {
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    float acc = parts[i];
    for (int p = 1; p < n_parts; ++p) acc += parts[p * n + i];
    out[i] = acc;
  }
}
}  // namespace

cudaError_t sum_partials_in_rank_order(const float* parts, int n_parts, int64_t n, float* out,
                                       cudaStream_t stream) {
  if (n <= 0) return cudaSuccess;
  const int threads = 256;
  const int64_t blocks = (n + threads - 1) / threads;
  sum_partials_kernel<<<static_cast<unsigned>(blocks < 4096 ? blocks : 4096), threads, 0, stream>>>(
      parts, n_parts, n, out);
  return cudaGetLastError();
}
}  // namespace shardserve
