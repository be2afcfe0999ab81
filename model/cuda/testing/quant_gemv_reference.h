// Test data and the scalar reference for the quantized GEMV (model/cuda/quant_gemv.cuh), shared by
// the emulated test, the GPU test and the bench: random weight rows of each quant type, and y = W x
// in double from the CPU scalar dequantizer (model/kernels/cpu/quant.h), with the error bound the
// 8-bit activations allow.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <random>
#include <vector>

#include "model/kernels/cpu/quant.h"
#include "model/tensor_type.h"

namespace shardserve::gpu::testing {

// Offsets of the f16 scale fields in one block of `type` (random bytes elsewhere are valid quants
// and sub-block scales; random f16 bytes could be inf or NaN).
inline std::vector<size_t> f16_scale_offsets(DType type) {
  switch (type) {
    case DType::Q4_0:
    case DType::Q8_0:
      return {0};
    case DType::Q4_1:
    case DType::Q4_K:
    case DType::Q5_K:
      return {0, 2};
    case DType::Q2_K:
      return {80, 82};
    case DType::Q3_K:
      return {108};
    case DType::Q6_K:
      return {208};
    default:
      return {};
  }
}

// rows x cols of `type`, each row at r * stride bytes (stride >= row_bytes): random quants, f16
// scales of magnitude below 0.05 (scaled down for types whose integer scales are large), the
// padding past row_bytes random too.
inline std::vector<uint8_t> random_quant_rows(DType type, int64_t rows, int64_t cols, size_t stride,
                                              uint32_t seed) {
  std::vector<uint8_t> bytes(stride * rows);
  std::mt19937 rng(seed);
  for (uint8_t& b : bytes) b = static_cast<uint8_t>(rng());
  std::uniform_real_distribution<float> scale(-0.05f, 0.05f);
  const float shrink = type == DType::Q6_K ? 1.0f / 64 : (type == DType::Q3_K ? 1.0f / 16 : 1.0f);
  const DTypeInfo& ti = info(type);
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t b = 0; b < cols / ti.block_size; ++b)
      for (size_t off : f16_scale_offsets(type)) {
        const uint16_t h = kernels::f32_to_f16(scale(rng) * shrink);
        std::memcpy(bytes.data() + r * stride + b * ti.block_bytes + off, &h, 2);
      }
  return bytes;
}

// Activations: n rows of cols in [-1, 1], row c scaled by 1 + c (different block maxima).
inline std::vector<float> random_activations(int n, int64_t cols, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> u(-1.0f, 1.0f);
  std::vector<float> x(n * cols);
  for (int c = 0; c < n; ++c)
    for (int64_t i = 0; i < cols; ++i) x[c * cols + i] = u(rng) * static_cast<float>(1 + c);
  return x;
}

// x as the GEMV sees it: each 32-element block quantized as quantize_kernel does (q =
// round_even(x * (127 / amax)), value q * (amax / 127)) and dequantized.
inline std::vector<float> q8_roundtrip(const std::vector<float>& x) {
  std::vector<float> out(x.size());
  for (size_t b = 0; b + 32 <= x.size(); b += 32) {
    float amax = 0;
    for (size_t i = b; i < b + 32; ++i) amax = std::max(amax, std::fabs(x[i]));
    const float id = amax > 0 ? 127.0f / amax : 0.0f, d = amax / 127.0f;
    for (size_t i = b; i < b + 32; ++i) out[i] = static_cast<float>(std::nearbyint(x[i] * id)) * d;
  }
  return out;
}

// y_ref[c][r] = sum_i w[r][i] x[c][i] in double, and two tolerances: `tolerance`, that of a GEMV
// over 8-bit activations against exact x: the quantization bound sum_b amax_b / 254 *
// sum_{i in b} |w_i| (each activation within half a step of its quant) plus float rounding;
// `float_tolerance`, float rounding alone (1e-5 * sum_i |w_i x_i| + 1e-6), for a reference
// computed from q8_roundtrip(x).
struct GemvReference {
  std::vector<double> y, tolerance, float_tolerance;  // [n][rows]
};

inline GemvReference reference_gemv(DType type, const uint8_t* w, size_t stride, int64_t rows,
                                    int64_t cols, const float* x, int n) {
  GemvReference ref;
  ref.y.resize(n * rows);
  ref.tolerance.resize(n * rows);
  ref.float_tolerance.resize(n * rows);
  std::vector<float> wr(cols);
  for (int64_t r = 0; r < rows; ++r) {
    kernels::ref::kernels_for(type).dequantize(w + r * stride, wr.data(), cols);
    for (int c = 0; c < n; ++c) {
      const float* xc = x + c * cols;
      double sum = 0, bound = 0, magnitude = 0;
      for (int64_t b = 0; b < cols; b += 32) {
        double amax = 0, wabs = 0;
        for (int64_t i = b; i < b + 32; ++i) {
          sum += static_cast<double>(wr[i]) * xc[i];
          magnitude += std::fabs(static_cast<double>(wr[i]) * xc[i]);
          amax = std::max(amax, std::fabs(static_cast<double>(xc[i])));
          wabs += std::fabs(static_cast<double>(wr[i]));
        }
        bound += amax / 254 * wabs;
      }
      ref.y[c * rows + r] = sum;
      ref.float_tolerance[c * rows + r] = 1e-5 * magnitude + 1e-6;
      ref.tolerance[c * rows + r] = bound * 1.001 + ref.float_tolerance[c * rows + r];
    }
  }
  return ref;
}

// How many of y[c * ldy + r] lie outside the reference's tolerance (float_tolerance if `tight`);
// the worst |error| / tolerance in *worst.
inline int64_t count_outside(const GemvReference& ref, const float* y, int64_t ldy, int64_t rows,
                             int n, bool tight, double* worst) {
  int64_t bad = 0;
  *worst = 0;
  for (int c = 0; c < n; ++c)
    for (int64_t r = 0; r < rows; ++r) {
      const double e = std::fabs(y[c * ldy + r] - ref.y[c * rows + r]);
      const double t = (tight ? ref.float_tolerance : ref.tolerance)[c * rows + r];
      *worst = std::max(*worst, e / t);
      if (!(e <= t)) ++bad;
    }
  return bad;
}

}  // namespace shardserve::gpu::testing
