// out[i] = parts[0][i] + parts[1][i] + ... in rank order, on the GPU (parts is [n_parts][n]),
// queued on `stream`. Returns the launch's error (cudaSuccess once queued; n == 0 queues
// nothing); errors inside the kernel surface at the stream's next synchronization.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

namespace shardserve {
[[nodiscard]] cudaError_t sum_partials_in_rank_order(const float* parts, int n_parts, int64_t n,
                                                     float* out, cudaStream_t stream);
}
