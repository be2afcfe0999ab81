// Argmax and softmax statistics of logit rows on the device against the host.
#include "model/cuda/reductions.cuh"

#include <algorithm>
#include <cmath>

#include "tests/gpu/gpu_test_util.h"

namespace shardserve::gpu {
namespace {

using testing::random_floats;
using testing::to_device;
using testing::to_host;

TEST(CudaReductions, ArgmaxPicksTheFirstOfEqualMaxima) {
  SS_SKIP_WITHOUT_GPU();
  const int64_t n_rows = 4, n_cols = 49152, ld = n_cols + 8;
  std::vector<float> logits = random_floats(n_rows * ld, 1, -20.0f, 20.0f);
  logits[0 * ld + 40000] = logits[0 * ld + 7] = 50.0f;  // tie: 7 wins
  logits[1 * ld + n_cols - 1] = 60.0f;                  // last column
  logits[2 * ld + 123] = NAN;                           // NaN never wins
  logits[2 * ld + 5] = 30.0f;
  for (int64_t i = 0; i < n_cols; ++i) logits[3 * ld + i] = -1.0f;  // all equal: 0
  std::vector<int32_t> expected;
  for (int64_t r = 0; r < n_rows; ++r) {
    std::vector<float> row(logits.begin() + r * ld, logits.begin() + r * ld + n_cols);
    for (float& x : row)
      if (std::isnan(x)) x = -INFINITY;
    expected.push_back(
        static_cast<int32_t>(std::max_element(row.begin(), row.end()) - row.begin()));
  }
  EXPECT_EQ(expected[0], 7);
  Stream stream;
  DeviceBuffer<float> d = to_device(logits);
  DeviceBuffer<int32_t> out(n_rows);
  argmax_rows(d.data(), ld, n_rows, n_cols, out.data(), stream.get());
  stream.synchronize();
  EXPECT_EQ(to_host(out), expected);
}

TEST(CudaReductions, SoftmaxStatsMatchDoublePrecision) {
  SS_SKIP_WITHOUT_GPU();
  const int64_t n_rows = 3, n_cols = 49152;
  const std::vector<float> logits = random_floats(n_rows * n_cols, 2, -15.0f, 25.0f);
  Stream stream;
  DeviceBuffer<float> d = to_device(logits), max(n_rows), sum(n_rows);
  softmax_stats_rows(d.data(), n_cols, n_rows, n_cols, max.data(), sum.data(), stream.get());
  stream.synchronize();
  const std::vector<float> got_max = to_host(max), got_sum = to_host(sum);
  for (int64_t r = 0; r < n_rows; ++r) {
    const float* row = &logits[r * n_cols];
    const float m = *std::max_element(row, row + n_cols);
    double s = 0;
    for (int64_t i = 0; i < n_cols; ++i) s += std::exp(static_cast<double>(row[i]) - m);
    EXPECT_EQ(got_max[r], m) << "row " << r;
    EXPECT_NEAR(got_sum[r], s, 1e-5 * s) << "row " << r;
  }
}

}  // namespace
}  // namespace shardserve::gpu
