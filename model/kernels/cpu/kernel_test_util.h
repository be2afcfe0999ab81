// Helpers shared by the kernel tests: seeded random inputs (floats, and rows of any type) and exact
// bit comparison of floats.
#pragma once

#include <cstdint>
#include <cstring>
#include <random>
#include <vector>

#include <gtest/gtest.h>

#include "model/kernels/cpu/quant.h"

namespace shardserve::kernels::test_util {

// n floats from a standard normal distribution.
inline std::vector<float> random_floats(size_t n, std::mt19937& rng) {
  std::normal_distribution<float> dist(0.0f, 1.0f);
  std::vector<float> v(n);
  for (float& f : v) f = dist(rng);
  return v;
}

// The bits of f, so that tests compare results exactly (and NaNs compare equal to themselves).
inline uint32_t bits(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  return u;
}

inline void put_f16(uint8_t* p, float f) {
  const uint16_t h = f32_to_f16(f);
  std::memcpy(p, &h, 2);
}

// A row of n elements of `type`: random bytes with finite, sane scales (and finite floats).
inline std::vector<uint8_t> random_row(DType type, int64_t n, std::mt19937& rng) {
  std::vector<uint8_t> row(row_bytes(type, n));
  for (uint8_t& b : row) b = static_cast<uint8_t>(rng());
  std::uniform_real_distribution<float> scale(-0.05f, 0.05f), min(-1.0f, 1.0f);
  const size_t bb = info(type).block_bytes;
  const size_t nb = row.size() / bb;
  if (type == DType::F32 || type == DType::F16 || type == DType::BF16) {
    const std::vector<float> v = random_floats(static_cast<size_t>(n), rng);
    ref::kernels_for(type).quantize(v.data(), row.data(), n);
    return row;
  }
  for (size_t i = 0; i < nb; ++i) {
    uint8_t* b = row.data() + i * bb;
    switch (type) {
      case DType::Q4_0:
      case DType::Q5_0:
      case DType::Q8_0:
        put_f16(b, scale(rng));
        break;
      case DType::Q4_1:
      case DType::Q5_1:
      case DType::Q4_K:
      case DType::Q5_K:
        put_f16(b, scale(rng));
        put_f16(b + 2, type == DType::Q4_1 || type == DType::Q5_1 ? min(rng) : scale(rng));
        break;
      case DType::Q2_K:  // 16 scale/min bytes and 64 quant bytes, then d and dmin
        put_f16(b + 80, scale(rng));
        put_f16(b + 82, scale(rng));
        break;
      case DType::Q3_K:  // 32 high-bit, 64 low-bit and 12 scale bytes, then d
        put_f16(b + 108, scale(rng));
        break;
      case DType::Q6_K:
        put_f16(b + 208, scale(rng));
        break;
      default:
        ADD_FAILURE() << "no random_row for " << info(type).name;
    }
  }
  return row;
}

}  // namespace shardserve::kernels::test_util
