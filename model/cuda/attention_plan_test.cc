// The attention plan on the host: which tiles, partitions and merges a step gets, and, by
// running each work item's arithmetic as the kernels define it (partial max, sum and
// unnormalized output per row over [c0, c1), merged with the log-sum-exp rescale) in double
// on the CPU, that every step's plan computes exactly softmax attention for every token and
// query head, each output written once.
#include "model/cuda/attention_plan.h"

#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <random>
#include <vector>

namespace shardserve::gpu {
namespace {

using Split = AttentionPlanOptions::Split;

// A step: per token its position and table_begin (the sequence's id here).
struct Step {
  std::vector<int32_t> positions, table_begin;
  void chunk(int32_t seq, int32_t start, int32_t len) {
    for (int32_t i = 0; i < len; ++i) {
      positions.push_back(start + i);
      table_begin.push_back(seq);
    }
  }
};

int64_t ssize(const Step& step) {
  return static_cast<int64_t>(step.positions.size());
}

// Random K, V per sequence ([pos][kv_head][head_dim]) and q per token ([head][head_dim]).
struct Data {
  int64_t group, n_kv, hd;
  std::map<int32_t, std::vector<double>> k, v;
  std::vector<double> q;

  Data(const Step& step, int64_t group_, int64_t n_kv_, int64_t hd_, uint32_t seed)
      : group(group_), n_kv(n_kv_), hd(hd_) {
    std::mt19937 rng(seed);
    std::uniform_real_distribution<double> u(-2.0, 2.0);
    std::map<int32_t, int32_t> ctx;
    for (size_t t = 0; t < step.positions.size(); ++t)
      ctx[step.table_begin[t]] = std::max(ctx[step.table_begin[t]], step.positions[t] + 1);
    for (const auto& [seq, n] : ctx) {
      for (auto* m : {&k, &v}) {
        std::vector<double>& x = (*m)[seq];
        x.resize(n * n_kv * hd);
        for (double& e : x) e = u(rng);
      }
    }
    q.resize(step.positions.size() * n_kv * group * hd);
    for (double& e : q) e = u(rng);
  }
  double score(int32_t seq, int64_t t, int64_t h, int64_t p) const {
    const int64_t kvh = h / group;
    double dot = 0;
    for (int64_t d = 0; d < hd; ++d)
      dot += q[(t * n_kv * group + h) * hd + d] * k.at(seq)[(p * n_kv + kvh) * hd + d];
    return dot * M_LOG2E;  // base 2, as the kernels keep scores
  }
  double value(int32_t seq, int64_t h, int64_t p, int64_t d) const {
    return v.at(seq)[(p * n_kv + h / group) * hd + d];
  }
};

// softmax over [0, pos] for every token and head: out[t][h][d].
std::vector<double> direct(const Step& step, const Data& data) {
  const int64_t nq = data.n_kv * data.group;
  std::vector<double> out(step.positions.size() * nq * data.hd);
  for (size_t t = 0; t < step.positions.size(); ++t)
    for (int64_t h = 0; h < nq; ++h) {
      const int32_t seq = step.table_begin[t], n = step.positions[t] + 1;
      std::vector<double> s(n);
      double m = -INFINITY, l = 0;
      for (int32_t p = 0; p < n; ++p) m = std::max(m, s[p] = data.score(seq, t, h, p));
      for (double& x : s) l += (x = std::exp2(x - m));
      for (int64_t d = 0; d < data.hd; ++d) {
        double o = 0;
        for (int32_t p = 0; p < n; ++p) o += s[p] * data.value(seq, h, p, d);
        out[(t * nq + h) * data.hd + d] = o / l;
      }
    }
  return out;
}

// The plan's items and merges, run as the kernels define them.
std::vector<double> run_plan(const Step& step, const Data& data, const AttentionPlan& plan,
                             std::vector<int>* writes) {
  const int64_t nq = data.n_kv * data.group, hd = data.hd, n_kv = data.n_kv;
  std::vector<double> out(step.positions.size() * nq * hd, NAN);
  writes->assign(step.positions.size() * nq, 0);
  std::vector<double> ws_out(plan.workspace_rows * hd, NAN), ws_m(plan.workspace_rows, NAN),
      ws_l(plan.workspace_rows, NAN);
  std::vector<int> ws_writes(plan.workspace_rows, 0);
  for (const AttentionWorkItem& it : plan.items) {
    EXPECT_LT(it.c0, it.c1);
    EXPECT_LE(it.c1, it.pos0 + it.m);
    const int64_t rows = it.m * data.group;
    for (int64_t i = 0; i < it.m; ++i) {  // what the kernel assumes of its tokens
      EXPECT_EQ(step.positions[it.t0 + i], it.pos0 + i);
      EXPECT_EQ(step.table_begin[it.t0 + i], it.table_begin);
    }
    for (int64_t kvh = 0; kvh < n_kv; ++kvh)
      for (int64_t r = 0; r < rows; ++r) {
        const int64_t i = r / data.group, h = kvh * data.group + r % data.group;
        const int64_t t = it.t0 + i;
        double m = -INFINITY, l = 0;
        std::vector<double> o(hd, 0.0);
        for (int64_t p = it.c0; p < std::min<int64_t>(it.c1, it.pos0 + i + 1); ++p)
          m = std::max(m, data.score(it.table_begin, t, h, p));
        for (int64_t p = it.c0; p < std::min<int64_t>(it.c1, it.pos0 + i + 1); ++p) {
          const double w = std::exp2(data.score(it.table_begin, t, h, p) - m);
          l += w;
          for (int64_t d = 0; d < hd; ++d) o[d] += w * data.value(it.table_begin, h, p, d);
        }
        if (it.ws_row < 0) {
          ++(*writes)[t * nq + h];
          for (int64_t d = 0; d < hd; ++d) out[(t * nq + h) * hd + d] = o[d] / l;
        } else {
          const int64_t row = it.ws_row + kvh * rows + r;
          EXPECT_LT(row, plan.workspace_rows);
          ++ws_writes[row];
          ws_m[row] = m;
          ws_l[row] = l;
          for (int64_t d = 0; d < hd; ++d) ws_out[row * hd + d] = o[d];
        }
      }
  }
  for (int w : ws_writes) EXPECT_EQ(w, 1) << "every workspace row written once";
  for (const AttentionMergeItem& it : plan.merges) {
    const int64_t rows = it.m * data.group;
    for (int64_t kvh = 0; kvh < n_kv; ++kvh)
      for (int64_t r = 0; r < rows; ++r) {
        const int64_t t = it.t0 + r / data.group, h = kvh * data.group + r % data.group;
        const int64_t row0 = it.ws_row + kvh * rows + r;
        double m = -INFINITY;
        for (int64_t p = 0; p < it.n_parts; ++p) m = std::max(m, ws_m[row0 + p * n_kv * rows]);
        ++(*writes)[t * nq + h];
        for (int64_t d = 0; d < hd; ++d) {
          double num = 0, den = 0;
          for (int64_t p = 0; p < it.n_parts; ++p) {
            const int64_t row = row0 + p * n_kv * rows;
            if (ws_m[row] == -INFINITY) continue;
            const double w = std::exp2(ws_m[row] - m);
            den += w * ws_l[row];
            num += w * ws_out[row * hd + d];
          }
          out[(t * nq + h) * hd + d] = num / den;
        }
      }
  }
  return out;
}

void expect_plan_computes_attention(const Step& step, const AttentionPlanShape& shape,
                                    const AttentionPlanOptions& options, uint32_t seed) {
  const Data data(step, shape.group, shape.n_kv_heads, 4, seed);
  AttentionPlanShape s = shape;
  s.head_dim = data.hd;
  const AttentionPlan plan =
      plan_attention(step.positions.data(), step.table_begin.data(), ssize(step), s, options);
  std::vector<int> writes;
  const std::vector<double> got = run_plan(step, data, plan, &writes);
  const std::vector<double> want = direct(step, data);
  for (size_t i = 0; i < writes.size(); ++i)
    ASSERT_EQ(writes[i], 1) << "output row " << i << " written " << writes[i] << " times";
  for (size_t i = 0; i < want.size(); ++i)
    ASSERT_NEAR(got[i], want[i], 1e-9 * (1 + std::fabs(want[i]))) << "element " << i;
}

Step mixed_step() {
  Step step;
  for (int32_t ctx : {1, 17, 511, 2048, 5000}) step.chunk(/*seq=*/ctx, ctx - 1, 1);  // decode
  step.chunk(7, 300, 100);  // a chunk after a prefix
  step.chunk(8, 0, 37);     // a first chunk
  step.chunk(9, 4500, 5);   // a short chunk after a long prefix
  step.chunk(10, 64, 64);   // tile boundaries on multiples of 8 and 64
  return step;
}

TEST(AttentionPlan, EveryPathComputesSoftmaxAttention) {
  const Step step = mixed_step();
  for (int64_t group : {1, 3, 8}) {
    for (int64_t tile_rows : {64, 32}) {
      const AttentionPlanShape shape{
          .group = group, .tile_tokens = tile_rows / group, .n_kv_heads = 2};
      for (const AttentionPlanOptions& o :
           {AttentionPlanOptions{}, AttentionPlanOptions{.split = Split::kNever},
            AttentionPlanOptions{.partition = 96, .split = Split::kAlways},
            AttentionPlanOptions{.partition = 1000, .split = Split::kAlways},
            AttentionPlanOptions{.partition = 64, .split = Split::kAuto}}) {
        SCOPED_TRACE(::testing::Message()
                     << "group " << group << " rows " << tile_rows << " partition " << o.partition
                     << " split " << static_cast<int>(o.split));
        expect_plan_computes_attention(step, shape, o, 1);
      }
    }
  }
}

TEST(AttentionPlan, SegmentsFollowTablesAndConsecutivePositions) {
  Step step;
  step.chunk(0, 10, 3);  // one segment
  step.chunk(0, 20, 2);  // same table, a jump in position: a new segment
  step.chunk(4, 22, 2);  // consecutive position, another table: a new segment
  const AttentionPlan plan =
      plan_attention(step.positions.data(), step.table_begin.data(), ssize(step),
                     {.group = 1, .tile_tokens = 64, .n_kv_heads = 1, .target_blocks = 0},
                     {.split = Split::kNever});
  ASSERT_EQ(plan.items.size(), 3u);
  EXPECT_EQ(plan.items[0].t0, 0);
  EXPECT_EQ(plan.items[0].m, 3);
  EXPECT_EQ(plan.items[0].c1, 13);
  EXPECT_EQ(plan.items[1].t0, 3);
  EXPECT_EQ(plan.items[1].pos0, 20);
  EXPECT_EQ(plan.items[2].t0, 5);
  EXPECT_EQ(plan.items[2].table_begin, 4);
  EXPECT_TRUE(plan.merges.empty());
  EXPECT_EQ(plan.workspace_rows, 0);
}

TEST(AttentionPlan, DecodeSplitsItsContextUntilTheDeviceIsBusy) {
  Step step;
  step.chunk(0, 4999, 1);  // one decode token, context 5000, 3 KV heads, 132 SMs
  const AttentionPlanShape shape{.group = 3, .tile_tokens = 21, .n_kv_heads = 3, .head_dim = 64};
  const AttentionPlan plan =
      plan_attention(step.positions.data(), step.table_begin.data(), ssize(step), shape, {});
  // 512 -> 10 x 3 blocks, 256 -> 60, 128 -> 120: still short of 264, but 128 is the floor.
  EXPECT_EQ(plan.partition, 128);
  ASSERT_EQ(plan.items.size(), 40u);
  ASSERT_EQ(plan.merges.size(), 1u);
  EXPECT_EQ(plan.merges[0].n_parts, 40);
  EXPECT_EQ(plan.items.back().c0, 39 * 128);
  EXPECT_EQ(plan.items.back().c1, 5000);
  EXPECT_EQ(plan.workspace_rows, 40 * 3 * 3);

  // 64 such tokens fill the device at 512 positions.
  Step batch;
  for (int32_t s = 0; s < 64; ++s) batch.chunk(s, 4999, 1);
  EXPECT_EQ(
      plan_attention(batch.positions.data(), batch.table_begin.data(), ssize(batch), shape, {})
          .partition,
      512);

  // A short context stays one block.
  Step short_ctx;
  short_ctx.chunk(0, 99, 1);
  const AttentionPlan one = plan_attention(short_ctx.positions.data(), short_ctx.table_begin.data(),
                                           ssize(short_ctx), shape, {});
  ASSERT_EQ(one.items.size(), 1u);
  EXPECT_EQ(one.items[0].ws_row, -1);
  EXPECT_TRUE(one.merges.empty());
}

TEST(AttentionPlan, LongPrefillIsNotSplitWhenItFillsTheDevice) {
  Step step;
  step.chunk(0, 1000, 2048);  // 98 tiles of 21 tokens x 3 KV heads = 294 blocks >= 264
  step.chunk(1, 7000, 1);     // a decode token beside it still splits
  const AttentionPlanShape shape{.group = 3, .tile_tokens = 21, .n_kv_heads = 3, .head_dim = 64};
  const AttentionPlan plan =
      plan_attention(step.positions.data(), step.table_begin.data(), ssize(step), shape, {});
  EXPECT_EQ(plan.partition, 512);
  ASSERT_EQ(plan.merges.size(), 1u);
  EXPECT_EQ(plan.merges[0].t0, 2048);
  EXPECT_EQ(plan.merges[0].n_parts, 14);  // ceil(7001 / 512)
  EXPECT_EQ(plan.items.size(), 98u + 14u);

  // The same chunk alone on a device with 4x the SMs: everything splits.
  AttentionPlanShape big = shape;
  big.target_blocks = 4 * 264;
  const AttentionPlan split =
      plan_attention(step.positions.data(), step.table_begin.data(), ssize(step), big, {});
  EXPECT_EQ(split.merges.size(), 99u);
}

TEST(AttentionPlan, WorkspaceBoundGrowsThePartition) {
  Step step;
  for (int32_t s = 0; s < 256; ++s) step.chunk(s, 32767, 1);  // 256 decodes at context 32k
  const AttentionPlanShape shape{.group = 8, .tile_tokens = 8, .n_kv_heads = 8, .head_dim = 128};
  const AttentionPlan plan =
      plan_attention(step.positions.data(), step.table_begin.data(), ssize(step), shape, {});
  // Rows: 256 tokens x parts x 8 KV heads x 8 query heads, 130 floats each: at 4096 positions
  // (8 parts) 68.2 MB > 64 MiB, at 8192 34.1 MB.
  EXPECT_EQ(plan.partition, 8192);
  EXPECT_LE(plan.workspace_rows * (128 + 2) * 4, shape.max_workspace_bytes);
  // A tight bound on a mixed step: still exact.
  expect_plan_computes_attention(
      mixed_step(), {.group = 2, .tile_tokens = 4, .n_kv_heads = 1, .max_workspace_bytes = 2000},
      {}, 3);
}

TEST(AttentionPlan, RandomSteps) {
  std::mt19937 rng(7);
  for (int trial = 0; trial < 40; ++trial) {
    Step step;
    const int n_seqs = 1 + static_cast<int>(rng() % 6);
    for (int s = 0; s < n_seqs; ++s) {
      const int32_t start = static_cast<int32_t>(rng() % 700);
      const int32_t len = 1 + static_cast<int32_t>(rng() % 3 == 0 ? rng() % 90 : 0);
      step.chunk(s, start, len);
    }
    const int64_t group = 1 + rng() % 8;
    const AttentionPlanShape shape{.group = group,
                                   .tile_tokens = std::max<int64_t>(1, 32 / group),
                                   .n_kv_heads = 1 + static_cast<int64_t>(rng() % 3),
                                   .target_blocks = static_cast<int64_t>(rng() % 300)};
    const AttentionPlanOptions o{.partition = static_cast<int64_t>(rng() % 3) * 50,
                                 .split = static_cast<Split>(rng() % 3)};
    SCOPED_TRACE(::testing::Message() << "trial " << trial);
    expect_plan_computes_attention(step, shape, o, trial);
  }
}

}  // namespace
}  // namespace shardserve::gpu
