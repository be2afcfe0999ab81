// cuBLAS f16 GEMMs in the forward pass's row-major layout against a double-precision product
// of the same f16 values.
#include "model/cuda/gemm.h"

#include <cmath>

#include "model/kernels/cpu/quant.h"
#include "tests/gpu/gpu_test_util.h"

namespace shardserve::gpu {
namespace {

using testing::random_floats;
using testing::to_device;
using testing::to_host;

std::vector<uint16_t> to_f16_bits(const std::vector<float>& x) {
  std::vector<uint16_t> h(x.size());
  for (size_t i = 0; i < x.size(); ++i) h[i] = kernels::f32_to_f16(x[i]);
  return h;
}

void check_gemm(int64_t n_out, int64_t n_in, int64_t n_tokens, float beta) {
  const int64_t ldw = n_in + 8, ldx = n_in + 16, ldy = n_out + 4;
  const std::vector<uint16_t> w = to_f16_bits(random_floats(n_out * ldw, 1, -0.2f, 0.2f));
  const std::vector<uint16_t> x = to_f16_bits(random_floats(n_tokens * ldx, 2, -2.0f, 2.0f));
  const std::vector<float> y0 = random_floats(n_tokens * ldy, 3);
  std::vector<float> expected = y0;
  std::vector<float> bound(y0.size(), 0.0f);
  for (int64_t t = 0; t < n_tokens; ++t)
    for (int64_t r = 0; r < n_out; ++r) {
      double acc = 0, mag = 0;
      for (int64_t c = 0; c < n_in; ++c) {
        const double p = static_cast<double>(kernels::f16_to_f32(w[r * ldw + c])) *
                         kernels::f16_to_f32(x[t * ldx + c]);
        acc += p;
        mag += std::fabs(p);
      }
      expected[t * ldy + r] = static_cast<float>(acc + beta * y0[t * ldy + r]);
      bound[t * ldy + r] = static_cast<float>(1e-4 * mag + 1e-6);
    }
  Stream stream;
  CublasHandle cublas(stream.get());
  DeviceBuffer<uint16_t> dw = to_device(w), dx = to_device(x);
  DeviceBuffer<float> dy = to_device(y0);
  gemm_f16(cublas.get(), reinterpret_cast<const __half*>(dw.data()), ldw,
           reinterpret_cast<const __half*>(dx.data()), ldx, dy.data(), ldy, n_out, n_in, n_tokens,
           beta);
  stream.synchronize();
  const std::vector<float> got = to_host(dy);
  for (int64_t t = 0; t < n_tokens; ++t)
    for (int64_t r = 0; r < ldy; ++r) {
      const int64_t i = t * ldy + r;
      if (r >= n_out) {
        ASSERT_EQ(got[i], y0[i]) << "padding column " << r << " was written";
        continue;
      }
      ASSERT_NEAR(got[i], expected[i], bound[i])
          << n_out << "x" << n_in << " x " << n_tokens << " tokens: token " << t << " row " << r;
    }
}

TEST(CudaGemm, RowMajorProductsMatchDoublePrecision) {
  SS_SKIP_WITHOUT_GPU();
  check_gemm(576, 576, 1, 0.0f);    // a decode step
  check_gemm(1536, 576, 7, 0.0f);   // a small prefill
  check_gemm(576, 1536, 64, 1.0f);  // accumulating into y
  check_gemm(100, 64, 3, 0.0f);     // sizes that are no multiple of 8
}

}  // namespace
}  // namespace shardserve::gpu
