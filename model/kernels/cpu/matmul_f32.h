// Cache-blocked products of f32 weight rows with many f32 activation rows at once: the kernel
// matmul() uses for F32 weights when a step has enough tokens to reuse each weight row.
//
//   out[t * ldo + r] = dot(w + r * w_stride, x + t * x_stride, n)   for r < n_rows, t < n_tokens
//
// where dot is kernels_for(DType::F32, isa).dot (model/kernels/cpu/quant.h), *bit for bit*: the
// SIMD versions work on tiles of weight rows x tokens (AVX-512: 4 x 6, AVX2: 3 x 4) so that each
// weight vector loaded serves several tokens and each activation vector several rows, but every
// output keeps the lane accumulators, the order over k, the tail handling and the final
// horizontal sum of the single-row dot. So a product does not depend on which kernel computed
// it, on the tile an output fell into, or on the other tokens of the step: batch composition
// and row ranges (threads, tensor-parallel shards) never change a result. (Against the scalar
// reference, which sums in double, SIMD results differ by float rounding only: about
// sqrt(n) * 2^-24 relative to sum |w x|.)
//
// Strides are in floats; no alignment is needed. Thread-safe, allocates nothing; callers split
// the rows over threads.
#pragma once

#include <cstdint>

#include "model/kernels/cpu/quant.h"

namespace shardserve::kernels {

using MatmulF32Fn = void (*)(const float* w, int64_t w_stride, int64_t n_rows, const float* x,
                             int64_t x_stride, int64_t n_tokens, int64_t n, float* out,
                             int64_t ldo);

// The kernel of level `isa` (a lower level's where `isa` has none); never null.
// Precondition: isa_supported(isa).
MatmulF32Fn matmul_f32_for(Isa isa = best_isa());

namespace internal {
// Per-ISA versions; null where the build or CPU architecture lacks the level.
MatmulF32Fn matmul_f32_avx2();
MatmulF32Fn matmul_f32_avx512();
}  // namespace internal

}  // namespace shardserve::kernels
