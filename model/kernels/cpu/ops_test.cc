// Element-wise operations against straightforward double-precision formulas: BERT's, and
// Gemma's table GELU and logit soft-capping.
#include "model/kernels/cpu/ops.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>
#include <random>
#include <vector>

#include "model/kernels/cpu/quant.h"

namespace shardserve::kernels {
namespace {

TEST(LayerNorm, MatchesTheDefinition) {
  std::mt19937 rng(5);
  std::normal_distribution<float> dist(3.0f, 2.0f);  // an offset mean, as residual streams have
  for (int64_t n : {1, 2, 7, 384, 1000}) {
    std::vector<float> x(n), w(n), b(n), out(n);
    for (int64_t i = 0; i < n; ++i) x[i] = dist(rng), w[i] = dist(rng), b[i] = dist(rng);
    const float eps = 1e-12f;
    layer_norm(x.data(), w.data(), b.data(), out.data(), n, eps);
    double mean = 0, var = 0;
    for (float v : x) mean += v;
    mean /= n;
    for (float v : x) var += (v - mean) * (v - mean);
    var /= n;
    for (int64_t i = 0; i < n; ++i) {
      const double want = (x[i] - mean) / std::sqrt(var + eps) * w[i] + b[i];
      EXPECT_NEAR(out[i], want, 1e-5 * (std::fabs(w[i]) + std::fabs(want)) + 1e-6)
          << "n=" << n << " i=" << i;
    }
    // In place gives the same result.
    layer_norm(x.data(), w.data(), b.data(), x.data(), n, eps);
    for (int64_t i = 0; i < n; ++i) EXPECT_EQ(x[i], out[i]);
  }
}

TEST(LayerNorm, ConstantRowGivesTheBias) {
  std::vector<float> x(8, 2.5f), w(8, 3.0f), b(8, 0.25f), out(8);
  layer_norm(x.data(), w.data(), b.data(), out.data(), 8, 1e-12f);
  for (float v : out) EXPECT_EQ(v, 0.25f);
}

TEST(Gelu, MatchesTheErfDefinition) {
  std::vector<float> x;
  for (float v = -10.0f; v <= 10.0f; v += 0.001f) x.push_back(v);
  for (float v : {0.0f, -0.0f, 1e-30f, -1e-30f, 30.0f, -30.0f, 1e4f, -1e4f}) x.push_back(v);
  std::vector<float> y = x;
  gelu_erf(y.data(), static_cast<int64_t>(y.size()));
  for (size_t i = 0; i < x.size(); ++i) {
    const double v = x[i];
    const double want = 0.5 * v * (1.0 + std::erf(v / std::sqrt(2.0)));
    // erf within 3.5e-7 makes GELU within 1.1e-6 (measured 1.06e-6 near x = -5.65), relative
    // for |x| > 1.
    EXPECT_NEAR(y[i], want, 1.2e-6 * std::max(1.0, std::fabs(want))) << "x=" << v;
  }
  EXPECT_EQ(y[y.size() - 2], 1e4f);  // gelu(x) = x for large x
  EXPECT_EQ(y[y.size() - 1], 0.0f);  // and 0 for very negative x
}

// The f16-table GELU: gate rounded to f16, GELU of that, rounded to f16, times up. Against the
// tanh form in double: within one f16 rounding (2^-11 relative) plus the f32 tanh's error.
TEST(GeluF16, MatchesTheTanhFormAtHalfPrecision) {
  std::mt19937 rng(11);
  std::uniform_real_distribution<float> dist(-12.0f, 12.0f);
  const int64_t n = 4096;
  std::vector<float> gate(n), up(n), out(n);
  for (int64_t i = 0; i < n; ++i) gate[i] = dist(rng), up[i] = dist(rng);
  gate[0] = -10.0f, gate[1] = 10.0f, gate[2] = 0.0f, gate[3] = -9.99f, gate[4] = 9.99f;
  gelu_f16_mul(gate.data(), up.data(), out.data(), n);
  for (int64_t i = 0; i < n; ++i) {
    const float g = gate[i];
    double want;
    if (g <= -10.0f) {
      want = 0.0;
    } else if (g >= 10.0f) {
      want = static_cast<double>(g) * up[i];
    } else {
      const double h = f16_to_f32(f32_to_f16(g));  // the table is indexed by f16(gate)
      const double gelu =
          0.5 * h * (1 + std::tanh(std::sqrt(2 / M_PI) * h * (1 + 0.044715 * h * h)));
      want = gelu * up[i];
    }
    EXPECT_NEAR(out[i], want, std::fabs(want) * 1.2e-3 + 1e-6) << "gate " << g << ", up " << up[i];
  }
  // In place.
  gelu_f16_mul(gate.data(), up.data(), gate.data(), n);
  for (int64_t i = 0; i < n; ++i) EXPECT_EQ(gate[i], out[i]);
}

TEST(Softcap, IsTanhScaledByTheCap) {
  const std::vector<float> x = {-1000.0f, -30.0f, -1.0f, 0.0f, 0.5f, 29.0f, 1e6f};
  std::vector<float> out(x.size());
  const float cap = 30.0f;
  softcap(x.data(), out.data(), static_cast<int64_t>(x.size()), cap);
  for (size_t i = 0; i < x.size(); ++i) {
    EXPECT_NEAR(out[i], cap * std::tanh(static_cast<double>(x[i]) / cap), 1e-5 * cap) << x[i];
    EXPECT_LE(std::fabs(out[i]), cap);
  }
}

}  // namespace
}  // namespace shardserve::kernels

namespace shardserve::kernels {
namespace {

// The vector softmax gives the plain loop's bits: ordinary rows, rows whose scores span more
// than e^-87 (the scalar fallback for tiny exponents), masked (-inf) positions, any length.
TEST(Softmax, VectorPathGivesTheReferenceBits) {
  std::mt19937 rng(7);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  for (int64_t n : {1, 7, 15, 16, 17, 31, 32, 33, 100, 257, 2048}) {
    for (float spread : {1.0f, 10.0f, 60.0f, 150.0f}) {
      std::vector<float> row(static_cast<size_t>(n));
      for (float& v : row) v = normal(rng) * spread;
      if (n > 20) row[3] = row[19] = -INFINITY;
      std::vector<float> ref = row;
      softmax(row.data(), n);
      softmax_reference(ref.data(), n);
      for (int64_t i = 0; i < n; ++i)
        ASSERT_EQ(std::bit_cast<uint32_t>(row[i]), std::bit_cast<uint32_t>(ref[i]))
            << "n " << n << " spread " << spread << " at " << i;
    }
  }
}

}  // namespace
}  // namespace shardserve::kernels
