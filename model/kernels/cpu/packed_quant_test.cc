// The packed quant product (Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q3_K, Q4_K, Q5_K, Q6_K): the SIMD kernels
// (AVX2, AVX-512, each where the CPU has it) give the scalar reference's bits for any row range,
// block range and number of tokens, extreme quants included; the reference agrees with the
// dequantized product (so the packing keeps every quant and scale); and matmul() with panels gives
// a token the same bits whatever else is in its batch.
#include "model/kernels/cpu/packed_quant.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <random>
#include <utility>
#include <vector>

#include "base/thread_pool.h"
#include "model/kernels/cpu/kernel_test_util.h"
#include "model/kernels/cpu/matmul.h"

namespace shardserve::kernels {
namespace {

using test_util::bits;
using test_util::random_floats;

// n_rows rows of n_cols weights of `type`: random floats quantized by the reference where the
// type has a quantizer, else (K-quants) random blocks with sane scales.
std::vector<uint8_t> random_weights(DType type, int64_t n_rows, int64_t n_cols, std::mt19937& rng) {
  const size_t w_row = row_bytes(type, n_cols);
  std::vector<uint8_t> weights(w_row * n_rows);
  const QuantizeRowFn quantize = ref::kernels_for(type).quantize;
  for (int64_t r = 0; r < n_rows; ++r) {
    if (quantize) {
      const auto w = random_floats(n_cols, rng);
      quantize(w.data(), &weights[r * w_row], n_cols);
    } else {
      const auto row = test_util::random_row(type, n_cols, rng);
      std::memcpy(&weights[r * w_row], row.data(), w_row);
    }
  }
  return weights;
}

// A quantized matrix and activations in its dot type, with the scales the kernel reads.
struct Problem {
  DType type;
  int64_t n_rows, n_cols, n_tokens;
  std::vector<uint8_t> weights;  // GGUF rows
  AlignedBytes panels;
  std::vector<uint8_t> acts;
  std::vector<ActBlockScale> scales;
  std::vector<int16_t> sums;
  QuantActivations x;

  Problem(DType w_type, int64_t rows, int64_t cols, int64_t tokens, std::mt19937& rng)
      : Problem(w_type, rows, cols, tokens, random_weights(w_type, rows, cols, rng),
                random_floats(tokens * cols, rng)) {}

  // Weights as n_rows GGUF rows, activations as n_tokens rows of floats.
  Problem(DType w_type, int64_t rows, int64_t cols, int64_t tokens, std::vector<uint8_t> w,
          const std::vector<float>& xf)
      : type(w_type), n_rows(rows), n_cols(cols), n_tokens(tokens), weights(std::move(w)) {
    const size_t w_row = row_bytes(type, n_cols);
    panels = pack_quant_panels(type, weights.data(), w_row, n_rows, n_cols);
    const DType xt = info(type).dot_type;
    const size_t x_row = row_bytes(xt, n_cols);
    acts.resize(x_row * n_tokens);
    const int64_t n_blocks = n_cols / 32;
    if (xt == DType::Q8_K) {
      sums.resize(n_tokens * n_blocks);
    } else {
      scales.resize(n_tokens * n_blocks);
    }
    for (int64_t t = 0; t < n_tokens; ++t) {
      ref::kernels_for(xt).quantize(&xf[t * n_cols], &acts[t * x_row], n_cols);
      if (xt == DType::Q8_K) {
        activation_sub_sums(&acts[t * x_row], n_cols, &sums[t * n_blocks]);
      } else {
        activation_block_scales(xt, &acts[t * x_row], n_cols, &scales[t * n_blocks]);
      }
    }
    x = {.type = xt,
         .rows = acts.data(),
         .row_stride = x_row,
         .scales = scales.data(),
         .scales_stride = n_blocks,
         .sub_sums = sums.data(),
         .sub_sums_stride = n_blocks,
         .n_tokens = n_tokens};
  }

  std::vector<float> run(PackedQuantMatmulFn f, int64_t row_begin, int64_t row_end, int64_t b_begin,
                         int64_t b_end) const {
    std::vector<float> out(n_tokens * n_rows, -1.0f);
    f(type, panels.get(), n_cols, row_begin, row_end, b_begin, b_end, x, out.data(), n_rows);
    return out;
  }
};

class PackedQuant : public ::testing::TestWithParam<DType> {
 protected:
  int64_t block() const { return info(GetParam()).block_size; }
};

TEST_P(PackedQuant, SimdGivesTheReferenceBitsForAnyRangeAndTokenCount) {
  const PackedQuantMatmulFn ref = packed_quant_matmul_for(Isa::Scalar);
  int levels = 0;
  for (Isa isa : {Isa::Avx2, Isa::Avx512}) {
    if (!isa_supported(isa) || !use_quant_panels(GetParam(), isa)) continue;
    ++levels;
    std::mt19937 rng(3);
    const PackedQuantMatmulFn simd = packed_quant_matmul_for(isa);
    ASSERT_NE(ref, simd) << isa_name(isa);
    for (int64_t n_tokens : {1, 2, 3, 7, 8, 9, 19, 64, 65, 70}) {
      Problem p(GetParam(), 37, 3 * block(), n_tokens, rng);
      for (auto [r0, r1] : {std::pair<int64_t, int64_t>{0, 37}, {5, 21}, {16, 32}, {33, 37}})
        for (auto [b0, b1] : {std::pair<int64_t, int64_t>{0, 3}, {1, 2}, {2, 3}, {1, 1}}) {
          const auto want = p.run(ref, r0, r1, b0, b1);
          const auto got = p.run(simd, r0, r1, b0, b1);
          for (size_t i = 0; i < want.size(); ++i)
            ASSERT_EQ(bits(got[i]), bits(want[i]))
                << isa_name(isa) << " tokens " << n_tokens << " rows " << r0 << ".." << r1
                << " blocks " << b0 << ".." << b1 << " at " << i;
        }
    }
  }
  if (levels == 0) GTEST_SKIP() << "this CPU has no SIMD level with packed quant kernels";
}

// Rows whose quants are all at the type's bound (the largest unsigned quant; Q8_0's -128) with
// the largest 6-bit scales and mins (Q6_K's scales -128, Q3_K's -32), against activations of 127 or
// -127: every int16 sum of the AVX2 kernels is at its bound, and must not saturate.
std::vector<uint8_t> extreme_weights(DType type, int64_t n_rows, int64_t n_cols,
                                     std::mt19937& rng) {
  struct Fill {
    size_t begin, end;  // bytes of a block
    uint8_t value;
  };
  std::vector<Fill> fills;
  switch (type) {
    case DType::Q4_0:
      fills = {{2, 18, 0xff}};
      break;
    case DType::Q4_1:
      fills = {{4, 20, 0xff}};
      break;
    case DType::Q5_0:
      fills = {{2, 22, 0xff}};
      break;
    case DType::Q5_1:
      fills = {{4, 24, 0xff}};
      break;
    case DType::Q8_0:
      fills = {{2, 34, 0x80}};
      break;
    case DType::Q4_K:
      fills = {{4, 144, 0xff}};
      break;
    case DType::Q5_K:
      fills = {{4, 176, 0xff}};
      break;
    case DType::Q3_K:  // hmask and qs all ones: q = 3 (stored 7); scales all zero: -32
      fills = {{0, 96, 0xff}, {96, 108, 0x00}};
      break;
    default:  // Q6_K
      fills = {{0, 192, 0xff}, {192, 208, 0x80}};
  }
  const size_t w_row = row_bytes(type, n_cols), block_bytes = info(type).block_bytes;
  std::vector<uint8_t> weights(w_row * n_rows);
  for (int64_t r = 0; r < n_rows; ++r) {
    auto row = test_util::random_row(type, n_cols, rng);  // sane block scales
    for (size_t b = 0; b < w_row / block_bytes; ++b)
      for (const Fill& f : fills)
        std::memset(&row[b * block_bytes + f.begin], f.value, f.end - f.begin);
    std::memcpy(&weights[r * w_row], row.data(), w_row);
  }
  return weights;
}

TEST_P(PackedQuant, SimdIsExactAtTheQuantBounds) {
  std::mt19937 rng(5);
  const DType type = GetParam();
  const int64_t n_rows = 21, n_cols = 2 * block(), n_tokens = 5;
  std::vector<float> xf(n_tokens * n_cols);
  for (int64_t t = 0; t < n_tokens; ++t)
    std::fill_n(&xf[t * n_cols], n_cols, t % 2 == 0 ? 1.0f : -1.0f);
  const Problem p(type, n_rows, n_cols, n_tokens, extreme_weights(type, n_rows, n_cols, rng), xf);
  const auto want = p.run(packed_quant_matmul_for(Isa::Scalar), 0, n_rows, 0, 2);
  for (Isa isa : {Isa::Avx2, Isa::Avx512}) {
    if (!isa_supported(isa) || !use_quant_panels(type, isa)) continue;
    const auto got = p.run(packed_quant_matmul_for(isa), 0, n_rows, 0, 2);
    for (size_t i = 0; i < want.size(); ++i)
      ASSERT_EQ(bits(got[i]), bits(want[i])) << isa_name(isa) << " at " << i;
  }
}

TEST_P(PackedQuant, ReferenceIsTheDequantizedProduct) {
  std::mt19937 rng(4);
  Problem p(GetParam(), 21, 4 * block(), 5, rng);
  const auto got = p.run(packed_quant_matmul_for(Isa::Scalar), 0, p.n_rows, 0, p.n_cols / block());
  const size_t w_row = row_bytes(p.type, p.n_cols);
  std::vector<float> w(p.n_cols), xf(p.n_cols);
  for (int64_t t = 0; t < p.n_tokens; ++t) {
    ref::kernels_for(p.x.type).dequantize(p.acts.data() + t * p.x.row_stride, xf.data(), p.n_cols);
    for (int64_t r = 0; r < p.n_rows; ++r) {
      ref::kernels_for(p.type).dequantize(&p.weights[r * w_row], w.data(), p.n_cols);
      double want = 0, scale = 0;
      for (int64_t k = 0; k < p.n_cols; ++k) {
        want += static_cast<double>(w[k]) * xf[k];
        scale += std::fabs(static_cast<double>(w[k]) * xf[k]);
      }
      // Q8_1's scaled sum is rounded to f16, so the min term of Q4_1 / Q5_1 carries a relative
      // 2^-11.
      const double tol =
          (p.type == DType::Q4_1 || p.type == DType::Q5_1 ? 1e-3 : 1e-5) * scale + 1e-6;
      EXPECT_NEAR(got[t * p.n_rows + r], want, tol) << "row " << r << " token " << t;
    }
  }
}

TEST_P(PackedQuant, MatmulGivesATokenTheSameBitsInAnyBatch) {
  if (!use_quant_panels(GetParam())) GTEST_SKIP() << "this CPU has no packed quant kernels";
  std::mt19937 rng(6);
  const DType type = GetParam();
  const int64_t n_rows = 50, n_cols = 2 * block(), n_tokens = 11;
  const size_t w_row = row_bytes(type, n_cols);
  const std::vector<uint8_t> wq = random_weights(type, n_rows, n_cols, rng);
  const AlignedBytes panels = pack_quant_panels(type, wq.data(), w_row, n_rows, n_cols);
  WeightMatrix w{.type = type,
                 .data = wq.data(),
                 .row_stride = w_row,
                 .n_rows = n_rows,
                 .n_cols = n_cols,
                 .quant_panels = panels.get()};
  const auto xf = random_floats(n_tokens * n_cols, rng);
  ThreadPool pool(2);
  ActivationRows x;
  x.quantize(info(type).dot_type, xf.data(), n_tokens, n_cols, n_cols, pool);
  std::vector<float> batch(n_tokens * n_rows);
  matmul(w, x, batch.data(), n_rows, pool);
  for (int64_t t = 0; t < n_tokens; ++t) {
    ActivationRows one;
    one.quantize(info(type).dot_type, &xf[t * n_cols], 1, n_cols, n_cols, pool);
    std::vector<float> alone(n_rows);
    matmul(w, one, alone.data(), n_rows, pool);
    for (int64_t r = 0; r < n_rows; ++r)
      ASSERT_EQ(bits(alone[r]), bits(batch[t * n_rows + r])) << "token " << t << " row " << r;
  }
}

std::string type_name(const ::testing::TestParamInfo<DType>& p) {
  return std::string(info(p.param).name);
}

INSTANTIATE_TEST_SUITE_P(Types, PackedQuant,
                         ::testing::Values(DType::Q4_1, DType::Q8_0, DType::Q4_0, DType::Q5_0,
                                           DType::Q5_1, DType::Q3_K, DType::Q4_K, DType::Q5_K,
                                           DType::Q6_K),
                         type_name);

}  // namespace
}  // namespace shardserve::kernels
