// The multi-token f32 kernel against the single-row dot of the same ISA (bit for bit: every
// output keeps the dot's summation order, whatever tile it lands in) and against the scalar
// reference (float rounding only); and matmul() / matmul_segments() on F32 weights, whose
// results must not depend on how many tokens the step has.
#include "model/kernels/cpu/matmul_f32.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>
#include <vector>

#include "model/kernels/cpu/kernel_test_util.h"
#include "model/kernels/cpu/matmul.h"

namespace shardserve::kernels {
namespace {

using test_util::bits;
using test_util::random_floats;

std::vector<Isa> supported_isas() {
  std::vector<Isa> out;
  for (Isa isa : {Isa::Scalar, Isa::Avx2, Isa::Avx512})
    if (isa_supported(isa)) out.push_back(isa);
  return out;
}

// Lengths around every chunk and tail boundary of both SIMD levels, and the model's widths.
constexpr int64_t kLengths[] = {1,  5,  7,  8,  9,  15, 16,  17,  24,  31,  32,  33,   40,  48,
                                63, 64, 65, 80, 96, 97, 127, 128, 129, 200, 384, 1000, 1536};

TEST(MatmulF32, EveryOutputIsBitForBitTheDotOfItsIsa) {
  std::mt19937 rng(1);
  for (Isa isa : supported_isas()) {
    const MatmulF32Fn kernel = matmul_f32_for(isa);
    const VecDotFn dot = kernels_for(DType::F32, isa).dot;
    for (int64_t n : kLengths) {
      // Odd row counts and strides: remainder tiles and unaligned rows.
      const int64_t n_rows = 11, n_tokens = 13, ws = n + 3, xs = n + 5, ldo = n_rows + 2;
      const auto w = random_floats(n_rows * ws, rng), x = random_floats(n_tokens * xs, rng);
      std::vector<float> out(n_tokens * ldo, -1.0f);
      kernel(w.data(), ws, n_rows, x.data(), xs, n_tokens, n, out.data(), ldo);
      for (int64_t t = 0; t < n_tokens; ++t)
        for (int64_t r = 0; r < n_rows; ++r)
          ASSERT_EQ(bits(out[t * ldo + r]), bits(dot(&w[r * ws], &x[t * xs], n)))
              << isa_name(isa) << " n=" << n << " row " << r << " token " << t;
      for (int64_t t = 0; t < n_tokens; ++t)  // the gaps between rows of out are untouched
        for (int64_t r = n_rows; r < ldo; ++r) ASSERT_EQ(out[t * ldo + r], -1.0f);
    }
  }
}

TEST(MatmulF32, ManyTokensSpanSeveralCacheBlocks) {
  std::mt19937 rng(2);
  const int64_t n = 1536, n_rows = 9, n_tokens = 150;
  const auto w = random_floats(n_rows * n, rng), x = random_floats(n_tokens * n, rng);
  for (Isa isa : supported_isas()) {
    std::vector<float> out(n_tokens * n_rows);
    matmul_f32_for(isa)(w.data(), n, n_rows, x.data(), n, n_tokens, n, out.data(), n_rows);
    const VecDotFn dot = kernels_for(DType::F32, isa).dot;
    for (int64_t t = 0; t < n_tokens; ++t)
      for (int64_t r = 0; r < n_rows; ++r)
        ASSERT_EQ(bits(out[t * n_rows + r]), bits(dot(&w[r * n], &x[t * n], n)))
            << isa_name(isa) << " row " << r << " token " << t;
  }
}

// SIMD sums in float, the reference in double: they differ by float rounding, bounded by the
// classic n * 2^-24 * sum |w x| for a float sum of n terms (typically far below it).
TEST(MatmulF32, SimdAgreesWithTheScalarReferenceToFloatRounding) {
  std::mt19937 rng(3);
  for (Isa isa : supported_isas()) {
    for (int64_t n : kLengths) {
      const int64_t n_rows = 5, n_tokens = 7;
      const auto w = random_floats(n_rows * n, rng), x = random_floats(n_tokens * n, rng);
      std::vector<float> out(n_tokens * n_rows), ref(n_tokens * n_rows);
      matmul_f32_for(isa)(w.data(), n, n_rows, x.data(), n, n_tokens, n, out.data(), n_rows);
      matmul_f32_for(Isa::Scalar)(w.data(), n, n_rows, x.data(), n, n_tokens, n, ref.data(),
                                  n_rows);
      for (int64_t t = 0; t < n_tokens; ++t) {
        for (int64_t r = 0; r < n_rows; ++r) {
          double magnitude = 0;
          for (int64_t i = 0; i < n; ++i) magnitude += std::fabs(w[r * n + i] * x[t * n + i]);
          const double tol = static_cast<double>(n) * 0x1p-24 * magnitude;
          EXPECT_NEAR(out[t * n_rows + r], ref[t * n_rows + r], tol)
              << isa_name(isa) << " n=" << n << " row " << r << " token " << t;
        }
      }
    }
  }
}

// matmul() picks the tiled kernel from a few tokens on and the single-row dot below; either
// way a token's output is the same bits, so a sequence's result does not depend on its batch.
TEST(MatmulF32, MatmulResultsDoNotDependOnTheNumberOfTokens) {
  std::mt19937 rng(4);
  const int64_t n_rows = 50, n = 384, max_tokens = 20;
  const auto w_data = random_floats(n_rows * n, rng), x = random_floats(max_tokens * n, rng);
  WeightMatrix w{.type = DType::F32,
                 .data = reinterpret_cast<const uint8_t*>(w_data.data()),
                 .row_stride = n * sizeof(float),
                 .n_rows = n_rows,
                 .n_cols = n};
  ThreadPool pool(2);
  ActivationRows xq;
  xq.quantize(DType::F32, x.data(), max_tokens, n, n, pool);
  std::vector<float> all(max_tokens * n_rows);
  matmul(w, xq, all.data(), n_rows, pool);
  for (int64_t n_tokens = 1; n_tokens < max_tokens; ++n_tokens) {
    xq.quantize(DType::F32, x.data(), n_tokens, n, n, pool);
    std::vector<float> some(n_tokens * n_rows);
    matmul(w, xq, some.data(), n_rows, pool);
    for (int64_t i = 0; i < n_tokens * n_rows; ++i)
      ASSERT_EQ(bits(some[i]), bits(all[i])) << n_tokens << " tokens, output " << i;
  }

  // Segments: each is the dot over its columns, for few and many tokens alike.
  const ColumnRange segments[] = {{0, 96}, {96, 128}, {128, 384}};
  for (int64_t n_tokens : {int64_t{2}, max_tokens}) {
    xq.quantize(DType::F32, x.data(), n_tokens, n, n, pool);
    const int64_t stride = n_tokens * n_rows;
    std::vector<float> parts(3 * stride);
    matmul_segments(w, xq, segments, parts.data(), n_rows, stride, pool);
    const VecDotFn dot = kernels_for(DType::F32).dot;
    for (int s = 0; s < 3; ++s)
      for (int64_t t = 0; t < n_tokens; ++t)
        for (int64_t r = 0; r < n_rows; ++r)
          ASSERT_EQ(bits(parts[s * stride + t * n_rows + r]),
                    bits(dot(&w_data[r * n + segments[s].begin], &x[t * n + segments[s].begin],
                             segments[s].end - segments[s].begin)))
              << n_tokens << " tokens, segment " << s;
  }
}

}  // namespace
}  // namespace shardserve::kernels
