#include "model/cuda/weight_plan.h"

#include <gtest/gtest.h>

#include <vector>

namespace shardserve::gpu {
namespace {

TEST(WeightPlan, PitchIsRowBytesRoundedUpTo16) {
  // Q4_K: 144 bytes per 256 columns, already a multiple of 16.
  EXPECT_EQ(quant_pitch(DType::Q4_K, 256), 144u);
  // Q6_K: 210 bytes per 256 columns -> 224; two blocks 420 -> 432.
  EXPECT_EQ(quant_pitch(DType::Q6_K, 256), 224u);
  EXPECT_EQ(quant_pitch(DType::Q6_K, 512), 432u);
  // Q8_0 of SmolLM2's dim 576: 18 blocks of 34 bytes = 612 -> 624.
  EXPECT_EQ(quant_pitch(DType::Q8_0, 576), 624u);
  // Q4_1: 18 blocks of 20 bytes = 360 -> 368.
  EXPECT_EQ(quant_pitch(DType::Q4_1, 576), 368u);
  for (DType t : {DType::Q4_0, DType::Q4_1, DType::Q8_0, DType::Q2_K, DType::Q3_K, DType::Q4_K,
                  DType::Q5_K, DType::Q6_K})
    for (int64_t cols : {256, 512, 768, 2048, 3072, 8192}) {
      const size_t p = quant_pitch(t, cols);
      EXPECT_EQ(p % 16, 0u);
      EXPECT_GE(p, row_bytes(t, cols));
      EXPECT_LT(p, row_bytes(t, cols) + 16);
    }
}

TEST(WeightPlan, GemvTypes) {
  for (DType t : {DType::Q4_0, DType::Q4_1, DType::Q8_0, DType::Q2_K, DType::Q3_K, DType::Q4_K,
                  DType::Q5_K, DType::Q6_K})
    EXPECT_TRUE(quant_gemv_supports(t)) << info(t).name;
  for (DType t : {DType::F32, DType::F16, DType::BF16, DType::Q5_0, DType::Q5_1})
    EXPECT_FALSE(quant_gemv_supports(t)) << info(t).name;
}

TEST(WeightPlan, OneTypeStacksIntoOneMatrix) {
  // Q4_1 Q, K, V of SmolLM2 (q 576 rows, k and v 192 rows, dim 576).
  const std::vector<WeightPart> parts = {
      {DType::Q4_1, 576, 576}, {DType::Q4_1, 192, 576}, {DType::Q4_1, 192, 576}};
  const auto m = plan_projection(parts, true);
  ASSERT_EQ(m.size(), 1u);
  EXPECT_TRUE(m[0].quantized);
  EXPECT_EQ(m[0].type, DType::Q4_1);
  EXPECT_EQ(m[0].row_begin, 0);
  EXPECT_EQ(m[0].rows, 960);
  EXPECT_EQ(m[0].cols, 576);
  EXPECT_EQ(m[0].row_stride, 368u);
  EXPECT_EQ(m[0].first_part, 0);
  EXPECT_EQ(m[0].n_parts, 3);
  EXPECT_EQ(m[0].bytes(), 960u * 368u);
}

TEST(WeightPlan, MixedTypesSplitWithRowOffsets) {
  // Q4_K_M: Q4_K attn_q, attn_k, Q6_K attn_v (q_dim 2048, kv_dim 512, dim 2048).
  const std::vector<WeightPart> qkv = {
      {DType::Q4_K, 2048, 2048}, {DType::Q4_K, 512, 2048}, {DType::Q6_K, 512, 2048}};
  const auto m = plan_projection(qkv, true);
  ASSERT_EQ(m.size(), 2u);
  EXPECT_EQ(m[0].type, DType::Q4_K);
  EXPECT_EQ(m[0].row_begin, 0);
  EXPECT_EQ(m[0].rows, 2560);
  EXPECT_EQ(m[0].first_part, 0);
  EXPECT_EQ(m[0].n_parts, 2);
  EXPECT_EQ(m[0].row_stride, quant_pitch(DType::Q4_K, 2048));
  EXPECT_EQ(m[1].type, DType::Q6_K);
  EXPECT_EQ(m[1].row_begin, 2560);
  EXPECT_EQ(m[1].rows, 512);
  EXPECT_EQ(m[1].first_part, 2);
  EXPECT_EQ(m[1].n_parts, 1);
  EXPECT_EQ(m[1].row_stride, quant_pitch(DType::Q6_K, 2048));

  // Gate Q4_K, up Q6_K: two matrices, up at row ffn.
  const std::vector<WeightPart> gu = {{DType::Q4_K, 8192, 2048}, {DType::Q6_K, 8192, 2048}};
  const auto g = plan_projection(gu, true);
  ASSERT_EQ(g.size(), 2u);
  EXPECT_EQ(g[1].row_begin, 8192);

  // A type between two of another: three matrices, none merged across the gap.
  const std::vector<WeightPart> gap = {
      {DType::Q4_K, 4, 256}, {DType::Q6_K, 2, 256}, {DType::Q4_K, 2, 256}};
  const auto x = plan_projection(gap, true);
  ASSERT_EQ(x.size(), 3u);
  EXPECT_EQ(x[2].row_begin, 6);
  EXPECT_EQ(x[2].type, DType::Q4_K);
}

TEST(WeightPlan, TypesWithoutGemvAreF16AndStackWithEachOther) {
  // F16 Q, BF16 K, Q5_0 V: all dequantized at load, so one f16 matrix.
  const std::vector<WeightPart> parts = {
      {DType::F16, 64, 128}, {DType::BF16, 32, 128}, {DType::Q5_0, 32, 128}};
  const auto m = plan_projection(parts, true);
  ASSERT_EQ(m.size(), 1u);
  EXPECT_FALSE(m[0].quantized);
  EXPECT_EQ(m[0].type, DType::F16);
  EXPECT_EQ(m[0].rows, 128);
  EXPECT_EQ(m[0].row_stride, 256u);

  // Q8_0 Q between f16 K, V: quantized Q at 0, f16 [K; V] at 64.
  const std::vector<WeightPart> mixed = {
      {DType::Q8_0, 64, 128}, {DType::F16, 32, 128}, {DType::F32, 32, 128}};
  const auto n = plan_projection(mixed, true);
  ASSERT_EQ(n.size(), 2u);
  EXPECT_TRUE(n[0].quantized);
  EXPECT_EQ(n[0].row_stride, quant_pitch(DType::Q8_0, 128));
  EXPECT_FALSE(n[1].quantized);
  EXPECT_EQ(n[1].row_begin, 64);
  EXPECT_EQ(n[1].rows, 64);
}

TEST(WeightPlan, WithoutQuantizationEverythingIsOneF16Matrix) {
  const std::vector<WeightPart> parts = {
      {DType::Q4_K, 2048, 2048}, {DType::Q4_K, 512, 2048}, {DType::Q6_K, 512, 2048}};
  const auto m = plan_projection(parts, false);
  ASSERT_EQ(m.size(), 1u);
  EXPECT_FALSE(m[0].quantized);
  EXPECT_EQ(m[0].rows, 3072);
  EXPECT_EQ(m[0].bytes(), 3072u * 2048u * 2u);
}

TEST(WeightPlan, ScratchPiecesCoverTheMatrix) {
  EXPECT_EQ(scratch_rows(100, 64, 64 * 1000), 100);
  EXPECT_EQ(scratch_rows(49152, 576, 1536 * 576), 1536);
  EXPECT_EQ(scratch_rows(10, 64, 64 * 3 + 5), 3);
  EXPECT_EQ(scratch_rows(0, 64, 64), 1);
  // Pieces of 3 rows cover 10 rows in 4 pieces, the last of 1.
  int64_t covered = 0, pieces = 0;
  for (int64_t r = 0; r < 10; r += scratch_rows(10, 64, 200))
    covered += std::min<int64_t>(3, 10 - r), ++pieces;
  EXPECT_EQ(covered, 10);
  EXPECT_EQ(pieces, 4);
}

TEST(WeightPlan, WorkspaceHoldsQuantsAndScales) {
  // 8 rows of 2048: 16384 quants, 8 * 64 (d, d * sum) pairs of floats.
  EXPECT_EQ(gemv_workspace_bytes(2048, 8), 16384u + 8u * 64u * 8u);
  // 1 row of 32: 32 quants, one pair.
  EXPECT_EQ(gemv_workspace_bytes(32, 1), 32u + 8u);
  // 3 rows of 96: 288 quants -> 288 (a multiple of 16), 9 pairs.
  EXPECT_EQ(gemv_workspace_bytes(96, 3), 288u + 72u);
  // 1 row of 96: 96 quants, 3 pairs; 5 rows of 32: 160 -> 160.
  EXPECT_EQ(gemv_workspace_bytes(96, 1), 96u + 24u);
  // Sized for the widest input and the most rows, it holds every smaller call.
  for (int64_t cols : {32, 576, 1536, 2048})
    for (int n = 1; n <= 8; ++n)
      EXPECT_LE(gemv_workspace_bytes(cols, n), gemv_workspace_bytes(2048, 8));
}

}  // namespace
}  // namespace shardserve::gpu
