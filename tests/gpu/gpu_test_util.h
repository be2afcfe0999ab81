// Helpers shared by the GPU tests: skipping where no device exists, host <-> device copies,
// random inputs and float comparison.
#pragma once

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "model/cuda/device.h"

namespace shardserve::gpu::testing {

// Why the GPU tests cannot run here, or nullopt. Asked once per process.
inline const std::optional<std::string>& skip_reason() {
  static const std::optional<std::string> reason = cuda_unavailable_reason();
  return reason;
}

template <typename T>
DeviceBuffer<T> to_device(const std::vector<T>& host) {
  DeviceBuffer<T> d(host.size());
  if (!host.empty()) d.upload(host.data(), host.size());
  return d;
}

template <typename T>
std::vector<T> to_host(const DeviceBuffer<T>& d) {
  std::vector<T> host(d.size());
  if (!host.empty()) d.download(host.data(), host.size());
  return host;
}

inline std::vector<float> random_floats(size_t n, uint32_t seed, float lo = -1.0f,
                                        float hi = 1.0f) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> dist(lo, hi);
  std::vector<float> v(n);
  for (float& x : v) x = dist(rng);
  return v;
}

// |actual - expected| <= abs + rel * |expected|, reporting the first few mismatches.
inline ::testing::AssertionResult all_near(const std::vector<float>& actual,
                                           const std::vector<float>& expected, double abs,
                                           double rel) {
  if (actual.size() != expected.size())
    return ::testing::AssertionFailure() << "sizes " << actual.size() << " vs " << expected.size();
  int bad = 0;
  double worst = 0.0;
  std::string detail;
  for (size_t i = 0; i < actual.size(); ++i) {
    const double d = std::fabs(static_cast<double>(actual[i]) - expected[i]);
    worst = std::max(worst, d);
    if (!(d <= abs + rel * std::fabs(expected[i]))) {
      if (bad < 5)
        detail += " [" + std::to_string(i) + "] " + std::to_string(actual[i]) + " vs " +
                  std::to_string(expected[i]) + ";";
      ++bad;
    }
  }
  if (bad == 0) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << bad << " of " << actual.size()
                                       << " values differ (max |diff| " << worst << "):" << detail;
}

}  // namespace shardserve::gpu::testing

// First statement of every GPU test: skips with a visible reason where no device exists.
#define SS_SKIP_WITHOUT_GPU()                                               \
  do {                                                                      \
    if (const auto& ss_reason_ = ::shardserve::gpu::testing::skip_reason()) \
      GTEST_SKIP() << *ss_reason_;                                          \
  } while (0)
