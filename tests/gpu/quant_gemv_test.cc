// The quantized GEMV and dequantize_to_f16 (model/cuda/quant_gemv.cuh) on a device, against the
// CPU scalar dequantizer with dot products in double (model/cuda/testing/quant_gemv_reference.h):
// the cases of model/cuda/quant_gemv_emulated_test.cc, which runs the same kernels on the CPU.
#include "model/cuda/quant_gemv.cuh"

#include <cstring>
#include <string>

#include "model/cuda/testing/quant_gemv_reference.h"
#include "model/kernels/cpu/quant.h"
#include "tests/gpu/gpu_test_util.h"

namespace shardserve::gpu {
namespace {

using testing::to_device;
using testing::to_host;

struct Shape {
  int64_t rows, cols;
  std::vector<int> batches;
};

const std::vector<Shape> kLegacy = {
    {37, 576, {1, 2, 3, 4, 5, 6, 7, 8}}, {13, 2048, {1, 8}}, {6, 1536, {3}}, {5, 5632, {1, 2}}};
const std::vector<Shape> kK = {
    {37, 2048, {1, 2, 3, 4, 5, 6, 7, 8}}, {13, 1536, {1, 8}}, {5, 5632, {1, 3}}};

bool is_k(DType type) {
  return info(type).block_size == 256;
}

class QuantGemv : public ::testing::TestWithParam<DType> {};

TEST_P(QuantGemv, MatchesTheCpuReference) {
  SS_SKIP_WITHOUT_GPU();
  const DType type = GetParam();
  ASSERT_TRUE(gemv_supported(type));
  Stream stream;
  uint32_t seed = 100;
  for (const Shape& s : is_k(type) ? kK : kLegacy)
    for (int n : s.batches) {
      SCOPED_TRACE(std::string(info(type).name) + " rows " + std::to_string(s.rows) + " cols " +
                   std::to_string(s.cols) + " batch " + std::to_string(n));
      const size_t stride = quant_row_stride(type, s.cols);
      const std::vector<uint8_t> w =
          testing::random_quant_rows(type, s.rows, s.cols, stride, ++seed);
      const std::vector<float> x = testing::random_activations(n, s.cols, ++seed);
      DeviceBuffer<uint8_t> dw = to_device(w);
      DeviceBuffer<float> dx = to_device(x);
      const int64_t ldy = s.rows + 3;
      DeviceBuffer<float> dy(n * ldy);
      DeviceBuffer<uint8_t> workspace(activation_bytes(s.cols, n));
      const QuantMatrix m{dw.data(), type, s.rows, s.cols, stride};
      gemv(m, dx.data(), s.cols, n, dy.data(), ldy, false, workspace.data(), stream.get());
      stream.synchronize();
      const std::vector<float> y = to_host(dy);
      double worst = 0;
      const auto exact =
          testing::reference_gemv(type, w.data(), stride, s.rows, s.cols, x.data(), n);
      EXPECT_EQ(testing::count_outside(exact, y.data(), ldy, s.rows, n, false, &worst), 0)
          << "worst error / bound " << worst;
      const std::vector<float> xr = testing::q8_roundtrip(x);
      const auto seen =
          testing::reference_gemv(type, w.data(), stride, s.rows, s.cols, xr.data(), n);
      EXPECT_EQ(testing::count_outside(seen, y.data(), ldy, s.rows, n, true, &worst), 0)
          << "worst error / float tolerance " << worst;
    }
}

// f16 activations, accumulated into y.
TEST_P(QuantGemv, HalfInputAccumulates) {
  SS_SKIP_WITHOUT_GPU();
  const DType type = GetParam();
  const int64_t rows = 11, cols = 1536;
  const int n = 4;
  const size_t stride = quant_row_stride(type, cols);
  const std::vector<uint8_t> w = testing::random_quant_rows(type, rows, cols, stride, 7);
  const std::vector<float> x = testing::random_activations(n, cols, 8);
  std::vector<__half> xh(x.size());
  std::vector<float> xf(x.size());
  for (size_t i = 0; i < x.size(); ++i) {
    xh[i] = __float2half_rn(x[i]);
    xf[i] = __half2float(xh[i]);
  }
  const std::vector<float> y0 = testing::random_activations(1, n * rows, 9);
  Stream stream;
  DeviceBuffer<uint8_t> dw = to_device(w);
  DeviceBuffer<__half> dx = to_device(xh);
  DeviceBuffer<float> dy = to_device(y0);
  DeviceBuffer<uint8_t> workspace(activation_bytes(cols, n));
  gemv(QuantMatrix{dw.data(), type, rows, cols, stride}, dx.data(), cols, n, dy.data(), rows, true,
       workspace.data(), stream.get());
  stream.synchronize();
  testing::GemvReference ref =
      testing::reference_gemv(type, w.data(), stride, rows, cols, xf.data(), n);
  for (size_t i = 0; i < ref.y.size(); ++i) ref.y[i] += y0[i];
  double worst = 0;
  EXPECT_EQ(testing::count_outside(ref, to_host(dy).data(), rows, rows, n, false, &worst), 0)
      << "worst error / bound " << worst;
}

// dequantize_to_f16 of a padded-stride matrix: the CPU reference rounded to f16.
TEST_P(QuantGemv, DequantizesToF16) {
  SS_SKIP_WITHOUT_GPU();
  const DType type = GetParam();
  const int64_t rows = 5, cols = 1536, ld = cols + 8;
  const size_t stride = quant_row_stride(type, cols);
  const std::vector<uint8_t> w = testing::random_quant_rows(type, rows, cols, stride, 3);
  Stream stream;
  DeviceBuffer<uint8_t> dw = to_device(w);
  DeviceBuffer<__half> out(rows * ld);
  dequantize_to_f16(QuantMatrix{dw.data(), type, rows, cols, stride}, out.data(), ld, stream.get());
  stream.synchronize();
  std::vector<uint16_t> got(rows * ld);
  CUDA_CHECK(cudaMemcpy(got.data(), out.data(), out.bytes(), cudaMemcpyDeviceToHost));
  std::vector<float> want(cols);
  for (int64_t r = 0; r < rows; ++r) {
    kernels::ref::kernels_for(type).dequantize(w.data() + r * stride, want.data(), cols);
    for (int64_t c = 0; c < cols; ++c)
      ASSERT_EQ(got[r * ld + c], kernels::f32_to_f16(want[c])) << "row " << r << " col " << c;
  }
}

INSTANTIATE_TEST_SUITE_P(AllTypes, QuantGemv,
                         ::testing::Values(DType::Q4_0, DType::Q4_1, DType::Q8_0, DType::Q2_K,
                                           DType::Q3_K, DType::Q4_K, DType::Q5_K, DType::Q6_K),
                         [](const auto& p) { return std::string(shardserve::info(p.param).name); });

}  // namespace
}  // namespace shardserve::gpu
