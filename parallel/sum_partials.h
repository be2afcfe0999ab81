// out[i] = parts[0][i] + parts[1][i] + ... in rank order, on the GPU (parts is [n_parts][n]).
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

namespace shardserve {
void sum_partials_in_rank_order(const float* parts, int n_parts, int64_t n, float* out,
                                cudaStream_t stream);
}
