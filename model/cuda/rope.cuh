// Rotary position embedding of query or key heads, in place, from a table of angles.
//
// The table holds, for every position p < table_positions, the n_rot / 2 pairs (cos, sin) that
// the CPU's kernels::rope_cache(params, p, ...) computes: table[p * n_rot + 2 * i] = cos,
// [.. + 2 * i + 1] = sin. The model builds it on the host with that function and uploads it
// once, so both backends rotate by the very same angles (no device sinf/cosf involved).
// Each pair (a, b) becomes (fma(x_a, c, -(x_b * s)), fma(x_a, s, x_b * c)), as rope_apply does,
// so results are bit-identical to the CPU. Pairs are (2i, 2i + 1) normally and
// (i, i + n_rot / 2) for NeoX; dimensions at and past n_rot are left alone.
//
// Layout: token t's heads start at x + t * ldx (floats); head h at + h * head_dim.
// positions: device array of n_tokens entries, each in [0, table_positions) (not checked on
// the device: the caller checks). Launch: 256 threads per block, one thread per pair.
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>

namespace shardserve::gpu {

struct RopeShape {
  int64_t n_heads = 0;
  int64_t head_dim = 0;
  int64_t n_rot = 0;  // even, <= head_dim
  bool neox = false;
};

void rope(float* x, int64_t ldx, int64_t n_tokens, const RopeShape& shape, const int32_t* positions,
          const float* table, cudaStream_t stream);

}  // namespace shardserve::gpu
