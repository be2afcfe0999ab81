// The packed-panel F32 product: every ISA gives the scalar reference's bits (one std::fma chain
// per output), whatever the row range, tokens and column range; packing keeps every element;
// and matmul() with panels gives the same bits for any number of tokens and thread split.
#include "model/kernels/cpu/packed_f32.h"

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

TEST(PackedF32, PackingKeepsEveryElementAndPadsWithZeros) {
  std::mt19937 rng(1);
  const int64_t n_rows = 21, n_cols = 5, stride = 7;
  const auto src = random_floats(n_rows * stride, rng);
  const AlignedFloats panels = pack_f32_panels(src.data(), stride * sizeof(float), n_rows, n_cols);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(panels.get()) % 64, 0u);
  for (int64_t r = 0; r < 32; ++r)
    for (int64_t k = 0; k < n_cols; ++k)
      EXPECT_EQ(panels[((r / 16) * n_cols + k) * 16 + r % 16], r < n_rows ? src[r * stride + k] : 0)
          << r << ", " << k;
}

TEST(PackedF32, TransposedPackingIsThePackingOfTheTranspose) {
  std::mt19937 rng(5);
  const int64_t n_rows = 23, n_cols = 18, stride = 20;
  const auto src = random_floats(n_rows * stride, rng);
  std::vector<float> transpose(n_cols * n_rows);
  for (int64_t r = 0; r < n_rows; ++r)
    for (int64_t c = 0; c < n_cols; ++c) transpose[c * n_rows + r] = src[r * stride + c];
  const AlignedFloats want =
      pack_f32_panels(transpose.data(), n_rows * sizeof(float), n_cols, n_rows);
  const AlignedFloats got = aligned_floats(panels_size(n_cols, n_rows));
  pack_f32_panels_of_transpose_into(src.data(), stride, n_rows, n_cols, got.get());
  for (int64_t i = 0; i < panels_size(n_cols, n_rows); ++i) ASSERT_EQ(got[i], want[i]) << i;
}

TEST(PackedF32, EveryIsaGivesTheReferenceBits) {
  std::mt19937 rng(2);
  const PackedMatmulFn ref = packed_matmul_f32_for(Isa::Scalar);
  for (Isa isa : {Isa::Avx2, Isa::Avx512}) {
    if (!isa_supported(isa)) continue;
    const PackedMatmulFn kernel = packed_matmul_f32_for(isa);
    for (int64_t n_cols : {1, 7, 32, 384}) {
      const int64_t n_rows = 70, n_tokens = 19, xs = n_cols + 3, ldo = n_rows + 1;
      const auto w = random_floats(n_rows * n_cols, rng);
      const auto x = random_floats(n_tokens * xs, rng);
      const AlignedFloats panels =
          pack_f32_panels(w.data(), n_cols * sizeof(float), n_rows, n_cols);
      // Row ranges inside, across and at the edges of panels; column ranges (segments).
      for (auto [r0, r1] : {std::pair<int64_t, int64_t>{0, 70}, {5, 37}, {16, 48}, {33, 34}}) {
        for (auto [k0, k1] : {std::pair<int64_t, int64_t>{0, n_cols}, {n_cols / 3, n_cols}}) {
          for (int64_t nt : {int64_t{1}, int64_t{8}, n_tokens}) {
            std::vector<float> got(n_tokens * ldo, -7.0f), want(n_tokens * ldo, -7.0f);
            kernel(panels.get(), n_cols, r0, r1, k0, k1, x.data(), xs, nt, got.data(), ldo);
            ref(panels.get(), n_cols, r0, r1, k0, k1, x.data(), xs, nt, want.data(), ldo);
            for (size_t i = 0; i < got.size(); ++i)
              ASSERT_EQ(bits(got[i]), bits(want[i]))
                  << isa_name(isa) << " cols " << n_cols << " rows [" << r0 << ", " << r1 << ") k ["
                  << k0 << ", " << k1 << ") tokens " << nt << " at " << i;
          }
        }
      }
    }
  }
}

// Against a double-precision product: float rounding of a chain of n fused multiply-adds.
TEST(PackedF32, ReferenceIsTheProductToFloatRounding) {
  std::mt19937 rng(3);
  const int64_t n_rows = 20, n_cols = 1536, n_tokens = 3;
  const auto w = random_floats(n_rows * n_cols, rng), x = random_floats(n_tokens * n_cols, rng);
  const AlignedFloats panels = pack_f32_panels(w.data(), n_cols * sizeof(float), n_rows, n_cols);
  std::vector<float> out(n_tokens * n_rows);
  packed_matmul_f32_for(Isa::Scalar)(panels.get(), n_cols, 0, n_rows, 0, n_cols, x.data(), n_cols,
                                     n_tokens, out.data(), n_rows);
  for (int64_t t = 0; t < n_tokens; ++t)
    for (int64_t r = 0; r < n_rows; ++r) {
      double sum = 0, magnitude = 0;
      for (int64_t k = 0; k < n_cols; ++k) {
        sum += static_cast<double>(w[r * n_cols + k]) * x[t * n_cols + k];
        magnitude += std::fabs(static_cast<double>(w[r * n_cols + k]) * x[t * n_cols + k]);
      }
      EXPECT_NEAR(out[t * n_rows + r], sum, n_cols * 0x1p-24 * magnitude);
    }
}

TEST(PackedF32, MatmulWithPanelsDoesNotDependOnTokensOrThreads) {
  std::mt19937 rng(4);
  const int64_t n_rows = 100, n = 96, max_tokens = 21;
  const auto w_data = random_floats(n_rows * n, rng), x = random_floats(max_tokens * n, rng);
  const AlignedFloats panels = pack_f32_panels(w_data.data(), n * sizeof(float), n_rows, n);
  const WeightMatrix w{.type = DType::F32,
                       .data = reinterpret_cast<const uint8_t*>(w_data.data()),
                       .row_stride = n * sizeof(float),
                       .n_rows = n_rows,
                       .n_cols = n,
                       .panels = panels.get()};
  ThreadPool pool(2), one(1);
  ActivationRows xq;
  xq.quantize(DType::F32, x.data(), max_tokens, n, n, pool);
  std::vector<float> all(max_tokens * n_rows);
  matmul(w, xq, all.data(), n_rows, one);
  for (int64_t nt = 1; nt <= max_tokens; ++nt) {
    xq.quantize(DType::F32, x.data(), nt, n, n, pool);
    std::vector<float> some(nt * n_rows);
    matmul(w, xq, some.data(), n_rows, pool);
    for (int64_t i = 0; i < nt * n_rows; ++i) ASSERT_EQ(bits(some[i]), bits(all[i])) << nt;
  }
  // Segments: each the chain over its own columns.
  const ColumnRange segments[] = {{0, 32}, {32, 40}, {40, 96}};
  const int64_t stride = max_tokens * n_rows;
  std::vector<float> parts(3 * stride), want(stride);
  matmul_segments(w, xq, segments, parts.data(), n_rows, stride, pool);
  for (int s = 0; s < 3; ++s) {
    packed_matmul_f32_for(Isa::Scalar)(panels.get(), n, 0, n_rows, segments[s].begin,
                                       segments[s].end, x.data(), n, max_tokens, want.data(),
                                       n_rows);
    for (int64_t i = 0; i < stride; ++i) ASSERT_EQ(bits(parts[s * stride + i]), bits(want[i]));
  }
}

}  // namespace
}  // namespace shardserve::kernels
