#include "parallel/shard_plan.h"

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include <gtest/gtest.h>

namespace shardserve {
namespace {

const TransformerShape kSmolLM2{
    .n_heads = 9, .n_kv_heads = 3, .hidden_dim = 1536, .ffn_unit = 32, .head_dim = 64};
// Gemma 3 270M's attention (4 query heads, 1 KV head of 256) with FFN units of 32.
const TransformerShape kGemmaLike{
    .n_heads = 4, .n_kv_heads = 1, .hidden_dim = 2048, .ffn_unit = 32, .head_dim = 256};

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

TEST(ShardPlan, TpAboveMaxTpIsAClearError) {
  // SmolLM2: 3 KV heads, so max_tp stays 3 (no replication for a model with 3 KV heads).
  auto s = plan_transformer_shard(kSmolLM2, 4, 0);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.error().message.find("tp = 4 exceeds max_tp = 3"), std::string::npos)
      << s.error().message;
  EXPECT_NE(s.error().message.find("9 query heads and 3 KV heads"), std::string::npos);
  EXPECT_NE(s.error().message.find("choose tp <= 3"), std::string::npos);
  EXPECT_FALSE(plan_transformer_shard(kSmolLM2, 2, 2).ok());
  EXPECT_FALSE(plan_transformer_shard(kSmolLM2, 0, 0).ok());
  // Gemma-like: one KV head, query heads split at most kQueryHeadSplit = 3 ways.
  s = plan_transformer_shard(kGemmaLike, 4, 0);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.error().message.find("tp = 4 exceeds max_tp = 3"), std::string::npos)
      << s.error().message;
  EXPECT_NE(s.error().message.find("4 query heads and 1 KV head:"), std::string::npos);
  EXPECT_NE(s.error().message.find("replicating the KV heads"), std::string::npos);
  // More ranks than query heads.
  TransformerShape three = kGemmaLike;
  three.n_heads = 3;
  EXPECT_EQ(default_max_tp(3, 1), 3);
  s = plan_transformer_shard(three, 4, 0);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.error().message.find("tp = 4 is larger than the model's 3 query heads"),
            std::string::npos)
      << s.error().message;
  EXPECT_NE(s.error().message.find("choose tp <= 3"), std::string::npos);
  EXPECT_TRUE(plan_transformer_shard(three, 3, 2).ok());
  // An explicit max_tp beyond the query heads is refused; within them it is honoured.
  TransformerShape explicit_max = kGemmaLike;
  explicit_max.max_tp = 5;
  s = plan_transformer_shard(explicit_max, 1, 0);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.error().message.find("max_tp = 5 is larger than the model's 4 query heads"),
            std::string::npos)
      << s.error().message;
  explicit_max.max_tp = 4;
  EXPECT_TRUE(plan_transformer_shard(explicit_max, 4, 3).ok());
  explicit_max.max_tp = 2;
  s = plan_transformer_shard(explicit_max, 3, 0);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.error().message.find("tp = 3 exceeds max_tp = 2"), std::string::npos);
  // Not whole KV groups.
  EXPECT_FALSE(
      plan_transformer_shard({.n_heads = 9, .n_kv_heads = 2, .hidden_dim = 64}, 1, 0).ok());
}

TEST(ShardPlan, DefaultMaxTpSplitsAKvGroupUpToThreeWays) {
  EXPECT_EQ(default_max_tp(9, 3), 3);   // SmolLM2: unchanged
  EXPECT_EQ(default_max_tp(4, 1), 3);   // Gemma 3 270M
  EXPECT_EQ(default_max_tp(4, 2), 3);   // the synthetic GQA models
  EXPECT_EQ(default_max_tp(14, 2), 3);  // Qwen2.5 0.5B
  EXPECT_EQ(default_max_tp(2, 1), 2);   // no more parts than query heads
  EXPECT_EQ(default_max_tp(1, 1), 1);
  EXPECT_EQ(default_max_tp(32, 8), 8);  // Llama 3.1 8B: unchanged
  EXPECT_EQ(default_max_tp(12, 12), 12);
}

// Today's shards of SmolLM2 (computed by the KV-head-only plan before replication existed):
// the replication rule must leave every model with max_tp = n_kv_heads exactly as it was.
TEST(ShardPlan, SmolLM2ShardsAreUnchangedByReplication) {
  struct Expected {
    Range kv, q, ffn;
    std::vector<Range> attn, ffn_segs;
    std::vector<int> attn_per_rank, ffn_per_rank;
  };
  const std::vector<std::vector<Expected>> expected = {
      {{{0, 3},
        {0, 9},
        {0, 1536},
        {{0, 192}, {192, 384}, {384, 576}},
        {{0, 512}, {512, 672}, {672, 1024}, {1024, 1536}},
        {3},
        {4}}},
      {{{0, 2}, {0, 6}, {0, 672}, {{0, 192}, {192, 384}}, {{0, 512}, {512, 672}}, {2, 1}, {2, 2}},
       {{2, 3}, {6, 9}, {672, 1536}, {{384, 576}}, {{672, 1024}, {1024, 1536}}, {2, 1}, {2, 2}}},
      {{{0, 1}, {0, 3}, {0, 512}, {{0, 192}}, {{0, 512}}, {1, 1, 1}, {1, 2, 1}},
       {{1, 2}, {3, 6}, {512, 1024}, {{192, 384}}, {{512, 672}, {672, 1024}}, {1, 1, 1}, {1, 2, 1}},
       {{2, 3}, {6, 9}, {1024, 1536}, {{384, 576}}, {{1024, 1536}}, {1, 1, 1}, {1, 2, 1}}},
  };
  TransformerShape shape = kSmolLM2;
  shape.n_vocab = 49152;
  for (int tp = 1; tp <= 3; ++tp) {
    for (int r = 0; r < tp; ++r) {
      SCOPED_TRACE("tp " + std::to_string(tp) + " rank " + std::to_string(r));
      auto s = plan_transformer_shard(shape, tp, r);
      ASSERT_TRUE(s.ok()) << s.error().message;
      const Expected& e = expected[tp - 1][r];
      EXPECT_EQ(s->kv_heads, e.kv);
      EXPECT_EQ(s->q_heads, e.q);
      EXPECT_EQ(s->q_per_kv, 3);
      EXPECT_EQ(s->ffn, e.ffn);
      EXPECT_EQ(s->attn_segments, e.attn);
      EXPECT_EQ(s->ffn_segments, e.ffn_segs);
      EXPECT_EQ(s->attn_segments_per_rank, e.attn_per_rank);
      EXPECT_EQ(s->ffn_segments_per_rank, e.ffn_per_rank);
      EXPECT_EQ(s->vocab, split_vocab(49152, tp, r));
    }
  }
  EXPECT_EQ(max_kv_heads_per_rank(kSmolLM2, 1), 3);
  EXPECT_EQ(max_kv_heads_per_rank(kSmolLM2, 2), 2);
  EXPECT_EQ(max_kv_heads_per_rank(kSmolLM2, 3), 1);
}

// split_ffn before replication, verbatim: the work before rank r was its KV heads times a KV
// head's weight (its group of query heads included).
Range kv_only_split_ffn(const TransformerShape& shape, int tp, int rank) {
  const int64_t n_units = shape.hidden_dim / shape.ffn_unit;
  const double group = static_cast<double>(shape.n_heads) / static_cast<double>(shape.n_kv_heads);
  const double per_kv_head = 2.0 * static_cast<double>(shape.head_dim) * (group + 1.0);
  const double per_unit = 3.0 * static_cast<double>(shape.ffn_unit);
  const double total =
      static_cast<double>(shape.n_kv_heads) * per_kv_head + static_cast<double>(n_units) * per_unit;
  auto cut = [&](int r) -> int64_t {
    if (r == 0) return 0;
    if (r == tp) return n_units;
    const double kv_before = static_cast<double>(split_evenly(shape.n_kv_heads, tp, r).begin);
    const double units = (total * r / tp - kv_before * per_kv_head) / per_unit;
    return std::clamp<int64_t>(std::llround(units), r, n_units - (tp - r));
  };
  int64_t begin = cut(rank), end = cut(rank + 1);
  if (end <= begin) end = begin + 1;
  return {begin, end};
}

TEST(ShardPlan, FfnSplitIsUnchangedWhileTpFitsTheKvHeads) {
  const std::vector<TransformerShape> shapes = {
      kSmolLM2,
      {.n_heads = 32, .n_kv_heads = 8, .hidden_dim = 14336, .ffn_unit = 256, .head_dim = 128},
      {.n_heads = 64, .n_kv_heads = 8, .hidden_dim = 28672, .ffn_unit = 32, .head_dim = 128},
      {.n_heads = 14, .n_kv_heads = 2, .hidden_dim = 4864, .ffn_unit = 32, .head_dim = 64},
      {.n_heads = 12, .n_kv_heads = 12, .hidden_dim = 1536, .ffn_unit = 64, .head_dim = 32},
      {.n_heads = 15, .n_kv_heads = 5, .hidden_dim = 2560, .ffn_unit = 32, .head_dim = 64},
      {.n_heads = 4, .n_kv_heads = 2, .hidden_dim = 512, .ffn_unit = 32, .head_dim = 64},
  };
  for (const TransformerShape& shape : shapes) {
    for (int tp = 1; tp <= shape.n_kv_heads; ++tp) {
      for (int r = 0; r < tp; ++r) {
        EXPECT_EQ(split_ffn(shape, tp, r), kv_only_split_ffn(shape, tp, r))
            << shape.n_heads << "/" << shape.n_kv_heads << " tp " << tp << " rank " << r;
        EXPECT_EQ(split_q_heads(shape, tp, r).begin,
                  split_evenly(shape.n_kv_heads, tp, r).begin * (shape.n_heads / shape.n_kv_heads));
      }
    }
  }
}

// Checks what every plan of `shape` must satisfy at every tp it takes: query heads and FFN
// columns cover the model once, KV heads are those the query heads use, every rank's segments
// lie inside its columns, and the segments of all ranks in rank order are the same list for
// every tp, each owned by exactly one rank.
void expect_tp_invariant(const TransformerShape& shape, int max_tp) {
  std::vector<Range> attn_tp1, ffn_tp1;
  for (int tp = 1; tp <= max_tp; ++tp) {
    SCOPED_TRACE("tp " + std::to_string(tp));
    std::vector<Range> attn, ffn;
    std::vector<int> attn_per_rank, ffn_per_rank;
    int64_t q_next = 0, ffn_next = 0;
    for (int r = 0; r < tp; ++r) {
      auto s = plan_transformer_shard(shape, tp, r);
      ASSERT_TRUE(s.ok()) << s.error().message;
      EXPECT_EQ(s->q_heads.begin, q_next);
      EXPECT_GT(s->q_heads.size(), 0);
      EXPECT_EQ(s->kv_heads, kv_heads_of(shape, s->q_heads));
      EXPECT_EQ(s->ffn.begin, ffn_next);
      q_next = s->q_heads.end;
      ffn_next = s->ffn.end;
      if (r == 0) {
        attn_per_rank = s->attn_segments_per_rank;
        ffn_per_rank = s->ffn_segments_per_rank;
      }
      EXPECT_EQ(s->attn_segments_per_rank, attn_per_rank);
      EXPECT_EQ(s->ffn_segments_per_rank, ffn_per_rank);
      EXPECT_EQ(static_cast<int>(s->attn_segments.size()), s->attn_segments_per_rank[r]);
      EXPECT_EQ(static_cast<int>(s->ffn_segments.size()), s->ffn_segments_per_rank[r]);
      for (const Range& seg : s->attn_segments) {
        EXPECT_GE(seg.begin, s->q_heads.begin * shape.head_dim);
        EXPECT_LE(seg.end, s->q_heads.end * shape.head_dim);
        EXPECT_EQ(seg.begin % shape.head_dim, 0);
        attn.push_back(seg);
      }
      for (const Range& seg : s->ffn_segments) {
        EXPECT_GE(seg.begin, s->ffn.begin);
        EXPECT_LE(seg.end, s->ffn.end);
        ffn.push_back(seg);
      }
      // The attention mapping: each local query head's KV head is local, and a KV head's query
      // heads are contiguous, in order, covering the rank's query heads once.
      int64_t next_local_q = 0;
      for (int64_t j = 0; j < s->kv_heads.size(); ++j) {
        const Range local = s->q_heads_of(j);
        EXPECT_EQ(local.begin, next_local_q);
        EXPECT_GT(local.size(), 0);
        for (int64_t i = local.begin; i < local.end; ++i) EXPECT_EQ(s->kv_head_of(i), j);
        next_local_q = local.end;
      }
      EXPECT_EQ(next_local_q, s->q_heads.size());
    }
    EXPECT_EQ(q_next, shape.n_heads);
    EXPECT_EQ(ffn_next, shape.hidden_dim);
    int n_attn = 0, n_ffn = 0;
    for (int r = 0; r < tp; ++r) {
      n_attn += attn_per_rank[r];
      n_ffn += ffn_per_rank[r];
    }
    EXPECT_EQ(n_attn, static_cast<int>(attn.size()));
    EXPECT_EQ(n_ffn, static_cast<int>(ffn.size()));
    EXPECT_EQ(attn.front().begin, 0);
    EXPECT_EQ(attn.back().end, shape.n_heads * shape.head_dim);
    for (size_t i = 1; i < attn.size(); ++i) EXPECT_EQ(attn[i].begin, attn[i - 1].end);
    if (tp == 1) {
      attn_tp1 = attn;
      ffn_tp1 = ffn;
    }
    EXPECT_EQ(attn, attn_tp1);
    EXPECT_EQ(ffn, ffn_tp1);
  }
}

TEST(ShardPlan, OneKvHeadIsReplicatedAcrossQueryHeadParts) {
  EXPECT_EQ(default_max_tp(4, 1), 3);
  expect_tp_invariant(kGemmaLike, 3);
  // tp 2: query heads 2 + 2; tp 3: 2 + 1 + 1; every rank holds the one KV head.
  const std::vector<std::vector<Range>> q = {{{0, 4}}, {{0, 2}, {2, 4}}, {{0, 2}, {2, 3}, {3, 4}}};
  // FFN units of 32 (96 multiply-adds each) against 512 per query head and 512 for the KV head
  // on each rank: tp 2 is even (32 + 32 units); tp 3 gives rank 0, with two query heads, 18.
  const std::vector<std::vector<Range>> ffn = {
      {{0, 2048}}, {{0, 1024}, {1024, 2048}}, {{0, 576}, {576, 1312}, {1312, 2048}}};
  for (int tp = 1; tp <= 3; ++tp) {
    for (int r = 0; r < tp; ++r) {
      auto s = plan_transformer_shard(kGemmaLike, tp, r);
      ASSERT_TRUE(s.ok()) << s.error().message;
      EXPECT_EQ(s->q_heads, q[tp - 1][r]) << "tp " << tp << " rank " << r;
      EXPECT_EQ(s->kv_heads, (Range{0, 1}));
      EXPECT_EQ(s->q_per_kv, 4);
      EXPECT_EQ(s->ffn, ffn[tp - 1][r]) << "tp " << tp << " rank " << r;
      for (int64_t i = 0; i < s->q_heads.size(); ++i) EXPECT_EQ(s->kv_head_of(i), 0);
      EXPECT_EQ(s->q_heads_of(0), (Range{0, s->q_heads.size()}));
    }
    EXPECT_EQ(max_kv_heads_per_rank(kGemmaLike, tp), 1);
  }
  // Attention-out segments: the query-head cuts of tp 2 (2) and tp 3 (2, 3), 256 columns each.
  auto s = plan_transformer_shard(kGemmaLike, 1, 0);
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->attn_segments, (std::vector<Range>{{0, 512}, {512, 768}, {768, 1024}}));
  // FFN segments: the cuts of tp 2 (32 units) and tp 3 (18, 41).
  EXPECT_EQ(s->ffn_segments,
            (std::vector<Range>{{0, 576}, {576, 1024}, {1024, 1312}, {1312, 2048}}));
  s = plan_transformer_shard(kGemmaLike, 3, 0);
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->attn_segments_per_rank, (std::vector<int>{1, 1, 1}));
  EXPECT_EQ(s->ffn_segments_per_rank, (std::vector<int>{1, 2, 1}));
  // The real model: Q6_K ffn_down, blocks of 256 (the header's worked example).
  TransformerShape gemma = kGemmaLike;
  gemma.ffn_unit = 256;
  const std::vector<Range> real_ffn = {{0, 512}, {512, 1280}, {1280, 2048}};
  for (int r = 0; r < 3; ++r) {
    auto g = plan_transformer_shard(gemma, 3, r);
    ASSERT_TRUE(g.ok()) << g.error().message;
    EXPECT_EQ(g->ffn, real_ffn[r]);
  }
  expect_tp_invariant(gemma, 3);
}

TEST(ShardPlan, ARankMayHoldTwoPartlyUsedKvHeads) {
  const TransformerShape shape{
      .n_heads = 8, .n_kv_heads = 2, .hidden_dim = 1536, .ffn_unit = 32, .head_dim = 64};
  EXPECT_EQ(default_max_tp(8, 2), 3);
  expect_tp_invariant(shape, 3);
  const std::vector<Range> q = {{0, 3}, {3, 6}, {6, 8}}, kv = {{0, 1}, {0, 2}, {1, 2}};
  for (int r = 0; r < 3; ++r) {
    auto s = plan_transformer_shard(shape, 3, r);
    ASSERT_TRUE(s.ok()) << s.error().message;
    EXPECT_EQ(s->q_heads, q[r]);
    EXPECT_EQ(s->kv_heads, kv[r]);
  }
  // Rank 1: query heads 3 (KV head 0) and 4, 5 (KV head 1).
  auto s = plan_transformer_shard(shape, 3, 1);
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->kv_head_of(0), 0);
  EXPECT_EQ(s->kv_head_of(1), 1);
  EXPECT_EQ(s->kv_head_of(2), 1);
  EXPECT_EQ(s->q_heads_of(0), (Range{0, 1}));
  EXPECT_EQ(s->q_heads_of(1), (Range{1, 3}));
  EXPECT_EQ(max_kv_heads_per_rank(shape, 3), 2);
  EXPECT_EQ(max_kv_heads_per_rank(shape, 2), 1);
  // Query-head cuts of tp 2 (4, a KV-head boundary) and tp 3 (3, 6).
  EXPECT_EQ(s->attn_segments, (std::vector<Range>{{192, 256}, {256, 384}}));
  EXPECT_EQ(s->attn_segments_per_rank, (std::vector<int>{1, 2, 1}));
  // Rank 1 holds two KV heads (2 * 128 multiply-adds of K/V rows each) where the others hold
  // one, and rank 2 has only two query heads: rank 1 gets the fewest FFN columns, rank 2 most.
  auto r0 = plan_transformer_shard(shape, 3, 0);
  auto r2 = plan_transformer_shard(shape, 3, 2);
  ASSERT_TRUE(r0.ok() && r2.ok());
  EXPECT_LT(s->ffn.size(), r0->ffn.size());
  EXPECT_LT(r0->ffn.size(), r2->ffn.size());
}

TEST(ShardPlan, EveryShapeIsTpInvariantUpToItsMaxTp) {
  expect_tp_invariant(kSmolLM2, 3);
  expect_tp_invariant(
      {.n_heads = 14, .n_kv_heads = 2, .hidden_dim = 4864, .ffn_unit = 32, .head_dim = 64}, 3);
  expect_tp_invariant(
      {.n_heads = 4, .n_kv_heads = 2, .hidden_dim = 512, .ffn_unit = 32, .head_dim = 64}, 3);
  expect_tp_invariant(
      {.n_heads = 2, .n_kv_heads = 1, .hidden_dim = 256, .ffn_unit = 32, .head_dim = 64}, 2);
  expect_tp_invariant({.n_heads = 12,
                       .n_kv_heads = 12,
                       .hidden_dim = 1536,
                       .ffn_unit = 64,
                       .head_dim = 32,
                       .max_tp = 4},
                      4);
  expect_tp_invariant(
      {.n_heads = 32, .n_kv_heads = 8, .hidden_dim = 14336, .ffn_unit = 256, .head_dim = 128}, 8);
}

// The synthetic GQA models quantized with K-quants: hidden 512 in blocks of 256 is 2 FFN units,
// fewer than default_max_tp (3). They run at tp 1 and 2 with the segments of those two only
// (their tp 1 bits as before replication), and tp 3 is refused for the FFN.
TEST(ShardPlan, FewerFfnUnitsThanMaxTpKeepTheSegmentsOfTheGroupsThatRun) {
  const TransformerShape shape{
      .n_heads = 4, .n_kv_heads = 2, .hidden_dim = 512, .ffn_unit = 256, .head_dim = 64};
  expect_tp_invariant(shape, 2);
  auto s = plan_transformer_shard(shape, 1, 0);
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->attn_segments, (std::vector<Range>{{0, 128}, {128, 256}}));
  EXPECT_EQ(s->ffn_segments, (std::vector<Range>{{0, 256}, {256, 512}}));
  s = plan_transformer_shard(shape, 3, 0);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.error().message.find("has only 2 blocks of 256, fewer than tp = 3"),
            std::string::npos)
      << s.error().message;
}

TEST(ShardPlan, ReplicatedKvHeadsCountInTheProjectionWork) {
  for (int tp = 1; tp <= 3; ++tp) {
    double lo = 1e18, hi = 0;
    for (int r = 0; r < tp; ++r) {
      auto s = plan_transformer_shard(kGemmaLike, tp, r);
      ASSERT_TRUE(s.ok());
      const double work = 2.0 * 256 * static_cast<double>(s->q_heads.size() + s->kv_heads.size()) +
                          3.0 * static_cast<double>(s->ffn.size());
      lo = std::min(lo, work);
      hi = std::max(hi, work);
    }
    EXPECT_LE(hi - lo, 3.0 * 32) << "tp " << tp;
  }
}

}  // namespace
}  // namespace shardserve
