#include "model/cuda/rope.cuh"

#include "base/check.h"
#include "model/cuda/cuda_check.h"

namespace shardserve::gpu {
namespace {

constexpr int kThreads = 256;

__global__ void __launch_bounds__(kThreads)
    rope_kernel(float* x, int64_t ldx, int64_t n_tokens, int64_t n_heads, int64_t head_dim,
                int64_t n_rot, bool neox, const int32_t* positions, const float* table) {
  const int64_t half = n_rot / 2;
  const int64_t per_token = n_heads * half;
  const int64_t id = blockIdx.x * static_cast<int64_t>(kThreads) + threadIdx.x;
  if (id >= n_tokens * per_token) return;
  const int64_t t = id / per_token, h = (id % per_token) / half, i = id % half;
  const float* cs = table + static_cast<int64_t>(positions[t]) * n_rot + 2 * i;
  const float c = cs[0], s = cs[1];
  float* v = x + t * ldx + h * head_dim;
  const int64_t a = neox ? i : 2 * i, b = neox ? i + half : 2 * i + 1;
  const float x0 = v[a], x1 = v[b];
  v[a] = __fmaf_rn(x0, c, -__fmul_rn(x1, s));
  v[b] = __fmaf_rn(x0, s, __fmul_rn(x1, c));
}

}  // namespace

void rope(float* x, int64_t ldx, int64_t n_tokens, const RopeShape& shape, const int32_t* positions,
          const float* table, cudaStream_t stream) {
  SS_CHECK(shape.n_rot % 2 == 0 && shape.n_rot <= shape.head_dim,
           "n_rot must be even, <= head_dim");
  SS_CHECK(ldx >= shape.n_heads * shape.head_dim && n_tokens >= 0);
  const int64_t n = n_tokens * shape.n_heads * (shape.n_rot / 2);
  if (n == 0) return;
  rope_kernel<<<static_cast<unsigned>((n + kThreads - 1) / kThreads), kThreads, 0, stream>>>(
      x, ldx, n_tokens, shape.n_heads, shape.head_dim, shape.n_rot, shape.neox, positions, table);
  CUDA_CHECK_LAUNCH("rope");
}

}  // namespace shardserve::gpu
