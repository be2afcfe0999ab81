// Per-row reductions over logits for the sampler side: the greedy token, and the max and
// sum of exponentials a softmax (probabilities, log-probabilities) needs.
//
// Row r of the logits starts at logits + r * ld; n_cols floats. Launch: one block of 256
// threads per row; asynchronous on `stream`; all pointers are device pointers.
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>

namespace shardserve::gpu {

// out[r] = the index of the largest logit of row r; the lowest index among equal maxima (as
// std::max_element, which the CPU sampler uses). NaNs are never chosen unless a row is all NaN
// (then 0).
void argmax_rows(const float* logits, int64_t ld, int64_t n_rows, int64_t n_cols, int32_t* out,
                 cudaStream_t stream);

// max[r] = max_i x[r][i]; sum_exp[r] = sum_i e^(x[r][i] - max[r]) (expf, summed in float in a
// tree). Then p_i = e^(x_i - max) / sum_exp and log p_i = x_i - max - log(sum_exp).
void softmax_stats_rows(const float* logits, int64_t ld, int64_t n_rows, int64_t n_cols, float* max,
                        float* sum_exp, cudaStream_t stream);

}  // namespace shardserve::gpu
