// Helpers shared by the kernel tests: seeded random inputs and exact bit comparison of floats.
#pragma once

#include <cstdint>
#include <cstring>
#include <random>
#include <vector>

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

}  // namespace shardserve::kernels::test_util
