// Device dequantization against the CPU scalar reference (quant_ref.cc): bit-identical f32
// values, and f16 values equal to the reference rounded to f16.
#include "model/cuda/dequantize.cuh"

#include <cstring>

#include "model/kernels/cpu/quant.h"
#include "tests/gpu/gpu_test_util.h"

namespace shardserve::gpu {
namespace {

using testing::random_floats;
using testing::to_device;
using testing::to_host;

// Offsets of the f16 scale fields of one block (d, and m where the type has one).
std::vector<size_t> scale_offsets(DType type) {
  switch (type) {
    case DType::Q4_1:
    case DType::Q5_1:
    case DType::Q4_K:
    case DType::Q5_K:
      return {0, 2};
    case DType::Q2_K:
      return {80, 82};
    case DType::Q3_K:
      return {108};
    case DType::Q6_K:
      return {208};
    case DType::Q4_0:
    case DType::Q5_0:
    case DType::Q8_0:
      return {0};
    default:
      return {};
  }
}

// n_rows rows of n_cols random elements of `type`, each row padded to `stride` bytes.
std::vector<uint8_t> random_rows(DType type, int64_t n_rows, int64_t n_cols, size_t stride,
                                 uint32_t seed) {
  std::vector<uint8_t> bytes(stride * n_rows);
  std::mt19937 rng(seed);
  for (uint8_t& b : bytes) b = static_cast<uint8_t>(rng());
  const DTypeInfo& ti = info(type);
  for (int64_t r = 0; r < n_rows; ++r) {
    uint8_t* row = bytes.data() + r * stride;
    const std::vector<float> values = random_floats(n_cols, seed + 1 + r, -2.0f, 2.0f);
    if (type == DType::F32) {
      std::memcpy(row, values.data(), n_cols * 4);
    } else if (type == DType::F16 || type == DType::BF16) {
      for (int64_t c = 0; c < n_cols; ++c) {
        const uint16_t h =
            type == DType::F16 ? kernels::f32_to_f16(values[c]) : kernels::f32_to_bf16(values[c]);
        std::memcpy(row + 2 * c, &h, 2);
      }
    } else {  // random quants, finite random scales
      for (int64_t b = 0; b < n_cols / ti.block_size; ++b)
        for (size_t off : scale_offsets(type)) {
          const uint16_t h = kernels::f32_to_f16(values[b] * 0.05f);
          std::memcpy(row + b * ti.block_bytes + off, &h, 2);
        }
    }
  }
  return bytes;
}

class Dequantize : public ::testing::TestWithParam<DType> {};

TEST_P(Dequantize, MatchesTheCpuReference) {
  SS_SKIP_WITHOUT_GPU();
  const DType type = GetParam();
  ASSERT_TRUE(dequantize_supported(type));
  const int64_t n_rows = 7, n_cols = 256, ld = n_cols + 3;
  const size_t stride = row_bytes(type, n_cols) + 6;  // rows with a stride, as column slices
  const std::vector<uint8_t> bytes = random_rows(type, n_rows, n_cols, stride, 42);

  std::vector<float> expected(n_rows * ld, 0.0f);
  for (int64_t r = 0; r < n_rows; ++r)
    kernels::ref::kernels_for(type).dequantize(bytes.data() + r * stride, &expected[r * ld],
                                               n_cols);

  Stream stream;
  DeviceBuffer<uint8_t> src = to_device(bytes);
  DeviceBuffer<float> out_f32(n_rows * ld);
  DeviceBuffer<__half> out_f16(n_rows * ld);
  out_f32.zero();
  out_f16.zero();
  dequantize_rows(type, src.data(), stride, n_rows, n_cols, out_f32.data(), ld, stream.get());
  dequantize_rows(type, src.data(), stride, n_rows, n_cols, out_f16.data(), ld, stream.get());
  stream.synchronize();
  const std::vector<float> f32 = to_host(out_f32);
  std::vector<uint16_t> f16(n_rows * ld);
  CUDA_CHECK(cudaDeviceSynchronize());
  CUDA_CHECK(cudaMemcpy(f16.data(), out_f16.data(), out_f16.bytes(), cudaMemcpyDeviceToHost));
  for (int64_t r = 0; r < n_rows; ++r)
    for (int64_t c = 0; c < n_cols; ++c) {
      const float want = expected[r * ld + c];
      ASSERT_EQ(std::memcmp(&f32[r * ld + c], &want, 4), 0)
          << info(type).name << " row " << r << " col " << c << ": " << f32[r * ld + c] << " vs "
          << want;
      ASSERT_EQ(f16[r * ld + c], kernels::f32_to_f16(want))
          << info(type).name << " row " << r << " col " << c;
    }
}

TEST_P(Dequantize, GathersRowsForEmbeddings) {
  SS_SKIP_WITHOUT_GPU();
  const DType type = GetParam();
  const int64_t n_rows = 9, n_cols = 256;  // one K-quant super-block
  const size_t stride = row_bytes(type, n_cols);
  const std::vector<uint8_t> bytes = random_rows(type, n_rows, n_cols, stride, 7);
  const std::vector<int32_t> rows = {3, 0, 8, 3};
  std::vector<float> expected(rows.size() * n_cols);
  for (size_t i = 0; i < rows.size(); ++i)
    kernels::ref::kernels_for(type).dequantize(bytes.data() + rows[i] * stride,
                                               &expected[i * n_cols], n_cols);
  Stream stream;
  DeviceBuffer<uint8_t> src = to_device(bytes);
  DeviceBuffer<int32_t> ids = to_device(rows);
  DeviceBuffer<float> out(rows.size() * n_cols);
  gather_rows(type, src.data(), stride, ids.data(), static_cast<int64_t>(rows.size()), n_cols,
              out.data(), n_cols, stream.get());
  stream.synchronize();
  EXPECT_TRUE(testing::all_near(to_host(out), expected, 0.0, 0.0)) << info(type).name;
}

INSTANTIATE_TEST_SUITE_P(AllTypes, Dequantize,
                         ::testing::Values(DType::F32, DType::F16, DType::BF16, DType::Q4_0,
                                           DType::Q4_1, DType::Q5_0, DType::Q5_1, DType::Q8_0,
                                           DType::Q2_K, DType::Q3_K, DType::Q4_K, DType::Q5_K,
                                           DType::Q6_K),
                         [](const auto& p) { return std::string(shardserve::info(p.param).name); });

TEST(Dequantize, SupportsTheWeightTypes) {
  // Host-side: no device needed.
  EXPECT_TRUE(dequantize_supported(DType::Q4_1));
  EXPECT_TRUE(dequantize_supported(DType::Q8_0));
  EXPECT_TRUE(dequantize_supported(DType::Q4_K));
  EXPECT_TRUE(dequantize_supported(DType::Q6_K));
  EXPECT_FALSE(dequantize_supported(DType::Q8_1));
}

}  // namespace
}  // namespace shardserve::gpu
