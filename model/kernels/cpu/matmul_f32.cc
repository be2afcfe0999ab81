#include "model/kernels/cpu/matmul_f32.h"

namespace shardserve::kernels {
namespace {

// The scalar level: the reference dot for every output (it sums in double; no tiling helps).
void matmul_f32_scalar(const float* w, int64_t w_stride, int64_t n_rows, const float* x,
                       int64_t x_stride, int64_t n_tokens, int64_t n, float* out, int64_t ldo) {
  const VecDotFn dot = kernels_for(DType::F32, Isa::Scalar).dot;
  for (int64_t r = 0; r < n_rows; ++r)
    for (int64_t t = 0; t < n_tokens; ++t)
      out[t * ldo + r] = dot(w + r * w_stride, x + t * x_stride, n);
}

}  // namespace

MatmulF32Fn matmul_f32_for(Isa isa) {
  if (isa == Isa::Avx512)
    if (MatmulF32Fn f = internal::matmul_f32_avx512()) return f;
  if (isa == Isa::Avx512 || isa == Isa::Avx2)
    if (MatmulF32Fn f = internal::matmul_f32_avx2()) return f;
  return matmul_f32_scalar;
}

}  // namespace shardserve::kernels
