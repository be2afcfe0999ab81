#include "parallel/shard_plan.h"

#include <algorithm>

#include <gtest/gtest.h>

namespace shardserve {
namespace {

const TransformerShape kSmolLM2{
    .n_heads = 9, .n_kv_heads = 3, .hidden_dim = 1536, .ffn_unit = 32, .head_dim = 64};

TEST(ShardPlan, SplitsEvenlyLargerPartsFirst) {
  EXPECT_EQ(split_evenly(3, 2, 0), (Range{0, 2}));
  EXPECT_EQ(split_evenly(3, 2, 1), (Range{2, 3}));
  EXPECT_EQ(split_evenly(10, 3, 2), (Range{7, 10}));
}

TEST(ShardPlan, SmolLM2Tp2IsTwoPlusOneKvGroups) {
  auto r0 = plan_transformer_shard(kSmolLM2, 2, 0);
  auto r1 = plan_transformer_shard(kSmolLM2, 2, 1);
  ASSERT_TRUE(r0.ok() && r1.ok());
  EXPECT_EQ(r0->kv_heads, (Range{0, 2}));
  EXPECT_EQ(r0->q_heads, (Range{0, 6}));
  EXPECT_EQ(r1->kv_heads, (Range{2, 3}));
  EXPECT_EQ(r1->q_heads, (Range{6, 9}));
  // Rank 0 has two of the three KV heads: it gives up FFN columns to rank 1.
  EXPECT_EQ(r0->ffn, (Range{0, 672}));
  EXPECT_EQ(r1->ffn, (Range{672, 1536}));
}

TEST(ShardPlan, VocabRowsAreWholePanelsCoveringTheVocabulary) {
  // SmolLM2's 49152 rows are 3072 units of 16; an odd vocabulary ends mid-unit on the last rank.
  EXPECT_EQ(split_vocab(49152, 2, 0), (Range{0, 24576}));
  EXPECT_EQ(split_vocab(49152, 2, 1), (Range{24576, 49152}));
  EXPECT_EQ(split_vocab(49152, 1, 0), (Range{0, 49152}));
  for (int64_t n_vocab : {1, 15, 16, 17, 100, 151936, 32001}) {
    for (int tp = 1; tp <= 4; ++tp) {
      int64_t next = 0;
      for (int r = 0; r < tp; ++r) {
        const Range v = split_vocab(n_vocab, tp, r);
        EXPECT_EQ(v.begin, next) << n_vocab << " tp " << tp << " rank " << r;
        if (v.size() > 0) {  // a tiny vocabulary leaves the last ranks none
          EXPECT_EQ(v.begin % kVocabUnit, 0);
        }
        if (v.end != n_vocab) {
          EXPECT_EQ(v.end % kVocabUnit, 0);
        }
        next = v.end;
      }
      EXPECT_EQ(next, n_vocab);
    }
  }
  TransformerShape shape = kSmolLM2;
  shape.n_vocab = 49152;
  auto r1 = plan_transformer_shard(shape, 2, 1);
  ASSERT_TRUE(r1.ok());
  EXPECT_EQ(r1->vocab, (Range{24576, 49152}));
  EXPECT_EQ(r1->vocab_per_rank, (std::vector<Range>{{0, 24576}, {24576, 49152}}));
}

TEST(ShardPlan, ShardsCoverEverythingOnce) {
  for (int tp = 1; tp <= 3; ++tp) {
    int64_t heads = 0, ffn = 0;
    for (int r = 0; r < tp; ++r) {
      auto s = plan_transformer_shard(kSmolLM2, tp, r);
      ASSERT_TRUE(s.ok());
      EXPECT_EQ(s->q_heads.begin, heads);
      EXPECT_EQ(s->ffn.begin, ffn);
      EXPECT_EQ(s->ffn.size() % 32, 0);
      heads = s->q_heads.end;
      ffn = s->ffn.end;
    }
    EXPECT_EQ(heads, 9);
    EXPECT_EQ(ffn, 1536);
  }
}

// Projection multiply-adds per token and model dimension of a rank (see split_ffn).
double projection_work(const TransformerShard& s) {
  return 2.0 * 64 * 4 * static_cast<double>(s.kv_heads.size()) + 3.0 * s.ffn.size();
}

TEST(ShardPlan, FfnColumnsEvenOutTheProjectionWork) {
  for (int tp = 1; tp <= 3; ++tp) {
    double lo = 1e18, hi = 0;
    for (int r = 0; r < tp; ++r) {
      auto s = plan_transformer_shard(kSmolLM2, tp, r);
      ASSERT_TRUE(s.ok());
      lo = std::min(lo, projection_work(*s));
      hi = std::max(hi, projection_work(*s));
    }
    // Within one unit (32 columns x 3 products) of even; split evenly, tp 2 would be 512 apart.
    EXPECT_LE(hi - lo, 3.0 * 32) << "tp " << tp;
  }
  // Equal heads per rank: the FFN is split evenly.
  const TransformerShape even{
      .n_heads = 12, .n_kv_heads = 12, .hidden_dim = 1536, .ffn_unit = 32, .head_dim = 32};
  for (int tp : {1, 2, 3, 4})
    for (int r = 0; r < tp; ++r) EXPECT_EQ(split_ffn(even, tp, r), split_evenly(48, tp, r));
}

TEST(ShardPlan, ReductionSegmentsAreTheUnionOfEveryTpsCuts) {
  EXPECT_EQ(reduction_segments(48, 3), (std::vector<Range>{{0, 16}, {16, 24}, {24, 32}, {32, 48}}));
  EXPECT_EQ(reduction_segments(3, 3), (std::vector<Range>{{0, 1}, {1, 2}, {2, 3}}));
  EXPECT_EQ(reduction_segments(10, 1), (std::vector<Range>{{0, 10}}));
}

TEST(ShardPlan, EveryTpOwnsTheSameSegmentsInOrder) {
  for (int tp = 1; tp <= 3; ++tp) {
    std::vector<Range> attn, ffn;
    for (int r = 0; r < tp; ++r) {
      auto s = plan_transformer_shard(kSmolLM2, tp, r);
      ASSERT_TRUE(s.ok());
      EXPECT_EQ(static_cast<int>(s->attn_segments.size()), s->attn_segments_per_rank[r]);
      for (const Range& seg : s->attn_segments) {
        EXPECT_GE(seg.begin, s->q_heads.begin * 64);
        EXPECT_LE(seg.end, s->q_heads.end * 64);
        attn.push_back(seg);
      }
      for (const Range& seg : s->ffn_segments) {
        EXPECT_GE(seg.begin, s->ffn.begin);
        EXPECT_LE(seg.end, s->ffn.end);
        ffn.push_back(seg);
      }
    }
    EXPECT_EQ(attn, (std::vector<Range>{{0, 192}, {192, 384}, {384, 576}})) << "tp " << tp;
    EXPECT_EQ(ffn, (std::vector<Range>{{0, 512}, {512, 672}, {672, 1024}, {1024, 1536}}))
        << "tp " << tp;
  }
}

TEST(ShardPlan, TpLargerThanKvHeadsIsAClearError) {
  auto s = plan_transformer_shard(kSmolLM2, 4, 0);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.error().message.find("tp = 4"), std::string::npos);
  EXPECT_NE(s.error().message.find("3 KV heads"), std::string::npos);
  EXPECT_FALSE(plan_transformer_shard(kSmolLM2, 2, 2).ok());
  EXPECT_FALSE(plan_transformer_shard(kSmolLM2, 0, 0).ok());
}

}  // namespace
}  // namespace shardserve
