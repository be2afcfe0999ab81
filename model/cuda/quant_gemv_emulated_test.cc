// The quantized GEMV (model/cuda/quant_gemv_kernels.cuh) and the device dequantizer's element
// decoders (model/cuda/dequantize_elements.cuh), compiled as host code and run on the CPU: each
// block's threads are fibers (model/cuda/testing/emulated_block.h) that switch at __syncwarp and
// every shuffle; 16-byte loads are checked for alignment and bounds (weights, activation quants,
// shared memory). Against the CPU scalar dequantizer with dot products in double
// (model/cuda/testing/quant_gemv_reference.h): every weight type, rows not a multiple of the
// block's 4 warps, rows of one partial tile and of several tiles, padded row strides, batches
// 1..8, f32 and f16 activations, overwrite and accumulate. tests/gpu/quant_gemv_test.cc runs the
// same cases on a device.
#include <cuda_fp16.h>
#include <gtest/gtest.h>
#include <vector_functions.h>
#include <vector_types.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "model/cuda/testing/emulated_block.h"
#include "model/cuda/testing/quant_gemv_reference.h"
#include "model/kernels/cpu/quant.h"

// Device code as host code.
#undef __global__
#define __global__
#undef __device__
#define __device__
#undef __launch_bounds__
#define __launch_bounds__(n)
#define SS_QUANT_GEMV_EMULATED 1
#define SS_DEQUANTIZE_EMULATED 1

namespace shardserve::gpu {

// What quant_gemv_kernels.cuh expects from its includer.
namespace quant_gemv_kernels {

#define threadIdx emu::thread_index
#define blockIdx emu::block_index

inline void sync_warp() {
  emu::sync_warp();
}
template <typename T>
T shfl_xor(T v, int offset) {
  return emu::shuffle_xor(v, offset);
}
inline int dp4a(int a, int b, int c) {
  for (int i = 0; i < 4; ++i)
    c += static_cast<int8_t>(static_cast<uint32_t>(a) >> (8 * i)) *
         static_cast<int8_t>(static_cast<uint32_t>(b) >> (8 * i));
  return c;
}
inline uint32_t vsub4(uint32_t a, uint32_t b) {
  uint32_t r = 0;
  for (int i = 0; i < 4; ++i) r |= (((a >> (8 * i)) - (b >> (8 * i))) & 0xffu) << (8 * i);
  return r;
}
inline int round_to_int(float x) {
  return static_cast<int>(std::nearbyint(x));  // round half to even, as __float2int_rn
}
inline unsigned char* gemv_smem() {
  return emu::shared;
}
inline uint4 load16(const void* p) {
  emu::check_access(p, "load");
  uint4 v;
  std::memcpy(&v, p, 16);
  return v;
}
inline uint4 load16_stream(const void* p) {
  return load16(p);
}
inline void store16(void* p, const uint4& v) {
  emu::check_access(p, "store");
  std::memcpy(p, &v, 16);
}
inline uint32_t ld_u16(const uint8_t* p) {
  if (reinterpret_cast<uintptr_t>(p) % 2 != 0) std::abort();  // the device needs 2-byte alignment
  uint16_t v;
  std::memcpy(&v, p, 2);
  return v;
}
inline uint32_t ld_u32(const uint8_t* p) {
  return ld_u16(p) | (ld_u16(p + 2) << 16);
}

}  // namespace quant_gemv_kernels

// What dequantize_elements.cuh expects: the device's correctly rounded float operations.
namespace dequantize_elements {
inline float __fmul_rn(float a, float b) {
  volatile float r = a * b;  // no contraction into a fused multiply-add
  return r;
}
inline float __fadd_rn(float a, float b) {
  volatile float r = a + b;
  return r;
}
inline float __fsub_rn(float a, float b) {
  volatile float r = a - b;
  return r;
}
inline float __uint_as_float(uint32_t u) {
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}
}  // namespace dequantize_elements

}  // namespace shardserve::gpu

#include "model/cuda/dequantize_elements.cuh"  // NOLINT(build/include_order)
#include "model/cuda/quant_gemv_kernels.cuh"   // its #pragma unroll: -Wno-unknown-pragmas

#undef threadIdx
#undef blockIdx

namespace shardserve::gpu {
namespace {

namespace k = quant_gemv_kernels;
using testing::random_quant_rows;

// 16-byte aligned bytes, as cudaMalloc gives.
struct alignas(16) Chunk {
  unsigned char b[16];
};
struct Aligned {
  std::vector<Chunk> chunks;
  explicit Aligned(size_t bytes) : chunks((bytes + 15) / 16 + 1) {}
  unsigned char* data() { return chunks.front().b; }
  std::pair<const char*, const char*> range(size_t bytes) {
    const char* p = reinterpret_cast<const char*>(data());
    return {p, p + bytes};
  }
};

template <DType T, int N>
void run_gemv_n(const k::GemvArgs& args) {
  const unsigned grid = static_cast<unsigned>((args.rows + k::kWarps - 1) / k::kWarps);
  const std::string failure = emu::launch(grid, 1, k::kThreads, k::gemv_smem_bytes<T>(),
                                          [&] { k::gemv_kernel<T, N>(args); });
  ASSERT_EQ(failure, "");
}

template <DType T>
void run_gemv(int n, const k::GemvArgs& args) {
  switch (n) {
    case 1:
      return run_gemv_n<T, 1>(args);
    case 2:
      return run_gemv_n<T, 2>(args);
    case 3:
      return run_gemv_n<T, 3>(args);
    case 4:
      return run_gemv_n<T, 4>(args);
    case 5:
      return run_gemv_n<T, 5>(args);
    case 6:
      return run_gemv_n<T, 6>(args);
    case 7:
      return run_gemv_n<T, 7>(args);
    case 8:
      return run_gemv_n<T, 8>(args);
    default:
      FAIL() << "n " << n;
  }
}

// gpu::gemv's two launches (quant_gemv.cu) over emulated kernels: y = W x (+ y0 if given).
template <DType T>
std::vector<float> emulate_gemv(const std::vector<uint8_t>& w, size_t stride, int64_t rows,
                                int64_t cols, const std::vector<float>& x, int n, bool f16_input,
                                const std::vector<float>* y0) {
  Aligned weights(w.size()), xq(n * cols);
  std::memcpy(weights.data(), w.data(), w.size());
  std::vector<float2> xds(n * cols / 32);
  emu::global_ranges = {weights.range(w.size()), xq.range(n * cols)};
  auto* q = reinterpret_cast<int8_t*>(xq.data());
  const unsigned qgrid = static_cast<unsigned>((n * cols / 32 + k::kWarps - 1) / k::kWarps);
  std::string failure;
  if (f16_input) {
    std::vector<__half> xh(x.size());
    for (size_t i = 0; i < x.size(); ++i) xh[i] = __float2half_rn(x[i]);
    failure = emu::launch(qgrid, 1, k::kThreads, 0, [&] {
      k::quantize_kernel<__half>(xh.data(), cols, n, cols, q, cols, xds.data(), cols / 32);
    });
  } else {
    failure = emu::launch(qgrid, 1, k::kThreads, 0, [&] {
      k::quantize_kernel<float>(x.data(), cols, n, cols, q, cols, xds.data(), cols / 32);
    });
  }
  EXPECT_EQ(failure, "");
  const int64_t ldy = rows + 3;
  std::vector<float> y(n * ldy, NAN);
  if (y0)
    for (int c = 0; c < n; ++c)
      for (int64_t r = 0; r < rows; ++r) y[c * ldy + r] = (*y0)[c * rows + r];
  const k::GemvArgs args{weights.data(),
                         stride,
                         rows,
                         static_cast<int64_t>(row_bytes(T, cols)),
                         q,
                         cols,
                         xds.data(),
                         cols / 32,
                         y.data(),
                         ldy,
                         y0 != nullptr};
  run_gemv<T>(n, args);
  std::vector<float> out(n * rows);
  for (int c = 0; c < n; ++c)
    for (int64_t r = 0; r < rows; ++r) out[c * rows + r] = y[c * ldy + r];
  return out;
}

struct Shape {
  int64_t rows, cols;
  std::vector<int> batches;
};

template <DType T>
void check_type(const std::vector<Shape>& shapes) {
  uint32_t seed = 100;
  for (const Shape& s : shapes)
    for (int n : s.batches) {
      SCOPED_TRACE(std::string(info(T).name) + " rows " + std::to_string(s.rows) + " cols " +
                   std::to_string(s.cols) + " batch " + std::to_string(n));
      const size_t stride = (row_bytes(T, s.cols) + 15) / 16 * 16;
      const std::vector<uint8_t> w = random_quant_rows(T, s.rows, s.cols, stride, ++seed);
      const std::vector<float> x = testing::random_activations(n, s.cols, ++seed);
      const std::vector<float> got =
          emulate_gemv<T>(w, stride, s.rows, s.cols, x, n, false, nullptr);
      double worst = 0;
      // Against exact activations, within the 8-bit quantization bound.
      const auto exact = testing::reference_gemv(T, w.data(), stride, s.rows, s.cols, x.data(), n);
      EXPECT_EQ(testing::count_outside(exact, got.data(), s.rows, s.rows, n, false, &worst), 0)
          << "worst error / bound " << worst;
      // Against the activations the kernel sees, within float rounding.
      const std::vector<float> xr = testing::q8_roundtrip(x);
      const auto seen = testing::reference_gemv(T, w.data(), stride, s.rows, s.cols, xr.data(), n);
      EXPECT_EQ(testing::count_outside(seen, got.data(), s.rows, s.rows, n, true, &worst), 0)
          << "worst error / float tolerance " << worst;
    }
}

// Legacy types: SmolLM2's hidden 576 (padded strides), 2048, and 5632 (a full tile and a part).
const std::vector<Shape> kLegacy = {
    {37, 576, {1, 2, 3, 4, 5, 6, 7, 8}}, {13, 2048, {1, 8}}, {6, 1536, {3}}, {5, 5632, {1, 2}}};
// K-quants: 2048, 1536, and 5632 (several tiles of 16 super-blocks).
const std::vector<Shape> kK = {
    {37, 2048, {1, 2, 3, 4, 5, 6, 7, 8}}, {13, 1536, {1, 8}}, {5, 5632, {1, 3}}};

TEST(QuantGemvEmulated, Q4_0) {
  check_type<DType::Q4_0>(kLegacy);
}
TEST(QuantGemvEmulated, Q4_1) {
  check_type<DType::Q4_1>(kLegacy);
}
TEST(QuantGemvEmulated, Q8_0) {
  check_type<DType::Q8_0>(kLegacy);
}
TEST(QuantGemvEmulated, Q2_K) {
  check_type<DType::Q2_K>(kK);
}
TEST(QuantGemvEmulated, Q3_K) {
  check_type<DType::Q3_K>(kK);
}
TEST(QuantGemvEmulated, Q4_K) {
  check_type<DType::Q4_K>(kK);
}
TEST(QuantGemvEmulated, Q5_K) {
  check_type<DType::Q5_K>(kK);
}
TEST(QuantGemvEmulated, Q6_K) {
  check_type<DType::Q6_K>(kK);
}

// f16 activations (the model's GEMV inputs) and accumulation into y (residual connections).
TEST(QuantGemvEmulated, HalfInputAccumulates) {
  constexpr DType T = DType::Q4_K;
  const int64_t rows = 11, cols = 1536;
  const int n = 4;
  const size_t stride = (row_bytes(T, cols) + 15) / 16 * 16;
  const std::vector<uint8_t> w = random_quant_rows(T, rows, cols, stride, 7);
  std::vector<float> x = testing::random_activations(n, cols, 8);
  for (float& v : x) v = __half2float(__float2half_rn(v));  // what the f16 input holds
  const std::vector<float> y0 = testing::random_activations(1, n * rows, 9);
  const std::vector<float> got = emulate_gemv<T>(w, stride, rows, cols, x, n, true, &y0);
  testing::GemvReference ref =
      testing::reference_gemv(T, w.data(), stride, rows, cols, x.data(), n);
  for (size_t i = 0; i < ref.y.size(); ++i) ref.y[i] += y0[i];
  double worst = 0;
  EXPECT_EQ(testing::count_outside(ref, got.data(), rows, rows, n, false, &worst), 0)
      << "worst error / bound " << worst;
}

// The device dequantizer's values: the CPU scalar reference's, bit for bit.
template <DType T>
void check_elements() {
  const int64_t rows = 3, cols = 512;
  const size_t stride = row_bytes(T, cols);
  const std::vector<uint8_t> w = random_quant_rows(T, rows, cols, stride, 5);
  std::vector<float> want(cols);
  for (int64_t r = 0; r < rows; ++r) {
    kernels::ref::kernels_for(T).dequantize(w.data() + r * stride, want.data(), cols);
    for (int64_t c = 0; c < cols; ++c) {
      const float got = dequantize_elements::element<T>(w.data() + r * stride, c);
      ASSERT_EQ(std::memcmp(&got, &want[c], 4), 0)
          << info(T).name << " row " << r << " element " << c << ": " << got << " vs " << want[c];
    }
  }
}

TEST(DequantizeElementsEmulated, MatchTheCpuReferenceBitForBit) {
  check_elements<DType::Q4_0>();
  check_elements<DType::Q4_1>();
  check_elements<DType::Q8_0>();
  check_elements<DType::Q2_K>();
  check_elements<DType::Q3_K>();
  check_elements<DType::Q4_K>();
  check_elements<DType::Q5_K>();
  check_elements<DType::Q6_K>();
}

}  // namespace
}  // namespace shardserve::gpu
