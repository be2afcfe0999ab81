// The f16 attention block kernels: AVX-512 gives the scalar reference's bits for any number of
// heads, positions and head_dim; the reference is the plain product of the f16-rounded inputs
// (within float rounding); a transposed key store keeps every element.
#include "model/kernels/cpu/attention_f16.h"
#include "model/kernels/cpu/kernel_test_util.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>
#include <vector>

namespace shardserve::kernels {
namespace {

using test_util::bits;
using test_util::random_floats;

struct Block {
  int64_t block_size, head_dim;
  std::vector<uint16_t> kt, v;
  std::vector<float> keys, values;  // f16-rounded, row by row

  Block(int64_t b, int64_t hd, std::mt19937& rng) : block_size(b), head_dim(hd) {
    std::normal_distribution<float> dist(0.0f, 1.0f);
    kt.resize(b * hd);
    v.resize(b * hd);
    keys.resize(b * hd);
    values.resize(b * hd);
    std::vector<float> key(hd);
    for (int64_t p = 0; p < b; ++p) {
      for (float& x : key) x = dist(rng);
      store_key_transposed(key.data(), hd, b, p, kt.data());
      for (int64_t d = 0; d < hd; ++d) {
        keys[p * hd + d] = f16_to_f32(f32_to_f16(key[d]));
        v[p * hd + d] = f32_to_f16(dist(rng));
        values[p * hd + d] = f16_to_f32(v[p * hd + d]);
      }
    }
  }
};

TEST(AttentionF16, TransposedStoreKeepsEveryKey) {
  std::mt19937 rng(1);
  Block b(32, 48, rng);
  for (int64_t p = 0; p < 32; ++p)
    for (int64_t d = 0; d < 48; ++d)
      ASSERT_EQ(f16_to_f32(b.kt[d * 32 + p]), b.keys[p * 48 + d]) << p << ", " << d;
}

TEST(AttentionF16, Avx512GivesTheReferenceBits) {
  if (!isa_supported(Isa::Avx512)) GTEST_SKIP() << "this CPU has no AVX-512";
  const auto& ref = attention_f16_kernels(Isa::Scalar);
  const auto& simd = attention_f16_kernels(Isa::Avx512);
  ASSERT_NE(ref.scores, simd.scores);
  std::mt19937 rng(2);
  for (int64_t hd : {32, 64, 80, 128})
    for (int64_t block_size : {16, 32})
      for (int64_t heads : {1, 3, 5, 8})
        for (int64_t n : {int64_t{1}, int64_t{7}, block_size}) {
          Block b(block_size, hd, rng);
          const auto q = random_floats(heads * hd, rng);
          const int64_t ld = block_size + 3;
          std::vector<float> want(heads * ld, -1.0f), got(heads * ld, -1.0f);
          ref.scores(q.data(), heads, hd, b.kt.data(), block_size, n, want.data(), ld);
          simd.scores(q.data(), heads, hd, b.kt.data(), block_size, n, got.data(), ld);
          for (size_t i = 0; i < want.size(); ++i)
            ASSERT_EQ(bits(got[i]), bits(want[i])) << "scores hd " << hd << " heads " << heads;
          if (hd % 16 != 0) continue;
          const auto w = random_floats(heads * ld, rng);
          auto out_want = random_floats(heads * hd, rng);
          auto out_got = out_want;
          ref.weighted_sum(w.data(), ld, heads, hd, b.v.data(), n, out_want.data());
          simd.weighted_sum(w.data(), ld, heads, hd, b.v.data(), n, out_got.data());
          for (size_t i = 0; i < out_want.size(); ++i)
            ASSERT_EQ(bits(out_got[i]), bits(out_want[i])) << "sum hd " << hd << " heads " << heads;
        }
}

TEST(AttentionF16, ReferenceComputesTheProducts) {
  std::mt19937 rng(3);
  const int64_t hd = 64, bs = 16, heads = 3;
  Block b(bs, hd, rng);
  const auto q = random_floats(heads * hd, rng);
  std::vector<float> scores(heads * bs);
  const auto& k = attention_f16_kernels(Isa::Scalar);
  k.scores(q.data(), heads, hd, b.kt.data(), bs, bs, scores.data(), bs);
  std::vector<float> out(heads * hd, 0.0f);
  k.weighted_sum(scores.data(), bs, heads, hd, b.v.data(), bs, out.data());
  for (int64_t g = 0; g < heads; ++g) {
    for (int64_t p = 0; p < bs; ++p) {
      double want = 0;
      for (int64_t d = 0; d < hd; ++d) want += double(q[g * hd + d]) * b.keys[p * hd + d];
      EXPECT_NEAR(scores[g * bs + p], want, 1e-4) << g << ", " << p;
    }
    for (int64_t d = 0; d < hd; ++d) {
      double want = 0;
      for (int64_t p = 0; p < bs; ++p) want += double(scores[g * bs + p]) * b.values[p * hd + d];
      EXPECT_NEAR(out[g * hd + d], want, 1e-3) << g << ", " << d;
    }
  }
}

}  // namespace
}  // namespace shardserve::kernels
