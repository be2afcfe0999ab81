// RMSNorm, RoPE, SwiGLU and the element-wise adds on the device against the CPU kernels
// (model/kernels/cpu/ops.h) on random data.
#include <cstring>

#include "model/cuda/elementwise.cuh"
#include "model/cuda/rms_norm.cuh"
#include "model/cuda/rope.cuh"
#include "model/kernels/cpu/ops.h"
#include "model/kernels/cpu/quant.h"
#include "tests/gpu/gpu_test_util.h"

namespace shardserve::gpu {
namespace {

using testing::all_near;
using testing::random_floats;
using testing::to_device;
using testing::to_host;

std::vector<float> f16_to_floats(const DeviceBuffer<__half>& d) {
  std::vector<uint16_t> bits(d.size());
  CUDA_CHECK(cudaDeviceSynchronize());
  CUDA_CHECK(cudaMemcpy(bits.data(), d.data(), d.bytes(), cudaMemcpyDeviceToHost));
  std::vector<float> out(bits.size());
  for (size_t i = 0; i < bits.size(); ++i) out[i] = kernels::f16_to_f32(bits[i]);
  return out;
}

TEST(CudaOps, RmsNormMatchesTheCpu) {
  SS_SKIP_WITHOUT_GPU();
  const int64_t n_rows = 5, dim = 576, ldx = 600, ld_out = 580;
  const float eps = 1e-5f;
  std::vector<float> x = random_floats(n_rows * ldx, 1, -3.0f, 3.0f);
  const std::vector<float> weight = random_floats(dim, 2, 0.5f, 1.5f);
  std::vector<float> expected(n_rows * ld_out, 0.0f), expected16(n_rows * ld_out, 0.0f);
  for (int64_t r = 0; r < n_rows; ++r) {
    kernels::rms_norm(&x[r * ldx], weight.data(), &expected[r * ld_out], dim, eps);
    for (int64_t i = 0; i < dim; ++i)
      expected16[r * ld_out + i] =
          kernels::f16_to_f32(kernels::f32_to_f16(expected[r * ld_out + i]));
  }
  Stream stream;
  DeviceBuffer<float> dx = to_device(x), dw = to_device(weight), out(n_rows * ld_out);
  DeviceBuffer<__half> out16(n_rows * ld_out);
  out.zero();
  out16.zero();
  rms_norm(dx.data(), ldx, dw.data(), eps, n_rows, dim, out.data(), ld_out, stream.get());
  rms_norm(dx.data(), ldx, dw.data(), eps, n_rows, dim, out16.data(), ld_out, stream.get());
  stream.synchronize();
  // The same roundings as the CPU; only the order of the double sum differs.
  EXPECT_TRUE(all_near(to_host(out), expected, 0.0, 1e-6));
  EXPECT_TRUE(all_near(f16_to_floats(out16), expected16, 0.0, 1e-3));
}

// One rope case: heads inside rows of width ldx (Q within a fused QKV row).
void check_rope(int64_t n_rot, bool neox) {
  const int64_t n_tokens = 6, n_heads = 3, head_dim = 64, ldx = 250, max_pos = 4096;
  const kernels::RopeParams params{.n_rot = n_rot, .freq_base = 10000.0f, .neox = neox};
  std::vector<float> table(max_pos * n_rot);
  for (int64_t p = 0; p < max_pos; ++p) kernels::rope_cache(params, p, &table[p * n_rot]);
  const std::vector<int32_t> positions = {0, 1, 17, 255, 4000, 4095};
  std::vector<float> x = random_floats(n_tokens * ldx, 3, -2.0f, 2.0f);
  std::vector<float> expected = x;
  for (int64_t t = 0; t < n_tokens; ++t)
    kernels::rope_apply(params, &table[positions[t] * n_rot], &expected[t * ldx], n_heads,
                        head_dim);
  Stream stream;
  DeviceBuffer<float> dx = to_device(x), dtable = to_device(table);
  DeviceBuffer<int32_t> dpos = to_device(positions);
  rope(dx.data(), ldx, n_tokens, RopeShape{n_heads, head_dim, n_rot, neox}, dpos.data(),
       dtable.data(), stream.get());
  stream.synchronize();
  const std::vector<float> got = to_host(dx);
  ASSERT_EQ(std::memcmp(got.data(), expected.data(), got.size() * 4), 0)
      << all_near(got, expected, 0.0, 0.0).message();  // bit-identical, padding untouched
}

TEST(CudaOps, RopeMatchesTheCpuBitForBit) {
  SS_SKIP_WITHOUT_GPU();
  check_rope(64, false);
  check_rope(64, true);
  check_rope(32, false);  // partial rotation: dims 32..63 untouched
  check_rope(32, true);
}

TEST(CudaOps, SiluMulMatchesTheCpu) {
  SS_SKIP_WITHOUT_GPU();
  const int64_t n_rows = 4, n = 1536, ld_in = 2 * n;  // gate | up side by side, as a fused GEMM
  const std::vector<float> gu = random_floats(n_rows * ld_in, 4, -8.0f, 8.0f);
  std::vector<float> expected(n_rows * n);
  for (int64_t r = 0; r < n_rows; ++r)
    kernels::silu_mul(&gu[r * ld_in], &gu[r * ld_in + n], &expected[r * n], n);
  std::vector<float> expected16(expected.size());
  for (size_t i = 0; i < expected.size(); ++i)
    expected16[i] = kernels::f16_to_f32(kernels::f32_to_f16(expected[i]));
  Stream stream;
  DeviceBuffer<float> dgu = to_device(gu), out(n_rows * n);
  DeviceBuffer<__half> out16(n_rows * n);
  silu_mul(dgu.data(), dgu.data() + n, ld_in, n_rows, n, out.data(), n, stream.get());
  silu_mul(dgu.data(), dgu.data() + n, ld_in, n_rows, n, out16.data(), n, stream.get());
  stream.synchronize();
  // expf vs ggml's exp polynomial: a few ulp.
  EXPECT_TRUE(all_near(to_host(out), expected, 1e-7, 4e-6));
  EXPECT_TRUE(all_near(f16_to_floats(out16), expected16, 1e-7, 1e-3));
}

TEST(CudaOps, AddsAndConversionsAreExact) {
  SS_SKIP_WITHOUT_GPU();
  const int64_t n_rows = 3, n = 576, ldy = 600;
  const std::vector<float> x = random_floats(n_rows * ldy, 5), y = random_floats(n_rows * ldy, 6);
  const std::vector<float> bias = random_floats(n, 7);
  std::vector<float> sum = x, biased = x, halves(n_rows * n);
  kernels::add_inplace(sum.data(), y.data(), n_rows * ldy);
  for (int64_t r = 0; r < n_rows; ++r) {
    kernels::add_inplace(&biased[r * ldy], bias.data(), n);
    for (int64_t i = 0; i < n; ++i)
      halves[r * n + i] = kernels::f16_to_f32(kernels::f32_to_f16(x[r * ldy + i]));
  }
  Stream stream;
  DeviceBuffer<float> dsum = to_device(x), dbiased = to_device(x), dy = to_device(y),
                      dbias = to_device(bias);
  DeviceBuffer<__half> dhalves(n_rows * n);
  add_inplace(dsum.data(), dy.data(), n_rows * ldy, stream.get());
  add_bias(dbiased.data(), ldy, dbias.data(), n_rows, n, stream.get());
  DeviceBuffer<float> dx = to_device(x);
  to_f16(dx.data(), ldy, n_rows, n, dhalves.data(), n, stream.get());
  stream.synchronize();
  EXPECT_TRUE(all_near(to_host(dsum), sum, 0.0, 0.0));
  EXPECT_TRUE(all_near(to_host(dbiased), biased, 0.0, 0.0));
  EXPECT_TRUE(all_near(f16_to_floats(dhalves), halves, 0.0, 0.0));
}

}  // namespace
}  // namespace shardserve::gpu
