#include "model/cuda/attention_plan.h"

#include <algorithm>
#include <climits>

#include "base/check.h"

namespace shardserve::gpu {
namespace {

struct Tile {
  int64_t t0, m, pos0, table_begin;
  bool alone;  // its segment's only tile
};

int32_t i32(int64_t x) {
  SS_CHECK(x >= INT32_MIN && x <= INT32_MAX, "attention plan: a field overflows int32");
  return static_cast<int32_t>(x);
}

}  // namespace

AttentionPlan plan_attention(const int32_t* positions, const int32_t* table_begin, int64_t n_tokens,
                             const AttentionPlanShape& shape, const AttentionPlanOptions& options) {
  SS_CHECK(n_tokens >= 0);
  SS_CHECK(shape.group > 0 && shape.tile_tokens > 0 && shape.n_kv_heads > 0 && shape.head_dim > 0 &&
           shape.target_blocks >= 0);
  const int64_t group = shape.group, n_kv = shape.n_kv_heads;

  // Segments cut into tiles.
  std::vector<Tile> tiles;
  for (int64_t t = 0; t < n_tokens;) {
    SS_CHECK(positions[t] >= 0 && table_begin[t] >= 0, "negative position or table offset");
    int64_t e = t + 1;
    while (e < n_tokens && table_begin[e] == table_begin[t] && positions[e] == positions[e - 1] + 1)
      ++e;
    for (int64_t b = t; b < e; b += shape.tile_tokens)
      tiles.push_back({b, std::min(shape.tile_tokens, e - b), positions[b], table_begin[t],
                       e - t <= shape.tile_tokens});
    t = e;
  }

  // Which tiles split, into how many partitions; blocks and workspace rows for a partition.
  using Split = AttentionPlanOptions::Split;
  const bool split_all = options.split == Split::kAlways ||
                         (options.split == Split::kAuto &&
                          static_cast<int64_t>(tiles.size()) * n_kv < shape.target_blocks);
  auto parts = [&](const Tile& tile, int64_t partition) -> int64_t {
    const bool split = options.split != Split::kNever && (tile.alone || split_all);
    return split ? (tile.pos0 + tile.m + partition - 1) / partition : 1;
  };
  struct Cost {
    int64_t blocks = 0, rows = 0;
  };
  auto cost = [&](int64_t partition) {
    Cost c;
    for (const Tile& tile : tiles) {
      const int64_t n = parts(tile, partition);
      c.blocks += n * n_kv;
      if (n > 1) c.rows += n * n_kv * tile.m * group;
    }
    return c;
  };
  int64_t partition = options.partition;
  if (partition <= 0) {
    partition = 512;
    while (partition > 128 && cost(partition).blocks < shape.target_blocks) partition /= 2;
    while (cost(partition).rows * (shape.head_dim + 2) * 4 > shape.max_workspace_bytes)
      partition *= 2;  // ends: one partition per tile needs no workspace
  }

  AttentionPlan plan;
  plan.partition = partition;
  int64_t ws_row = 0;
  for (const Tile& tile : tiles) {
    const int64_t n = parts(tile, partition), ctx = tile.pos0 + tile.m;
    if (n == 1) {
      plan.items.push_back(
          {i32(tile.t0), i32(tile.m), i32(tile.pos0), 0, i32(ctx), i32(tile.table_begin), -1, 0});
      continue;
    }
    const int64_t rows = tile.m * group;
    for (int64_t p = 0; p < n; ++p)
      plan.items.push_back({i32(tile.t0), i32(tile.m), i32(tile.pos0), i32(p * partition),
                            i32(std::min(ctx, (p + 1) * partition)), i32(tile.table_begin),
                            i32(ws_row + p * n_kv * rows), 0});
    plan.merges.push_back({i32(tile.t0), i32(tile.m), i32(ws_row), i32(n)});
    ws_row += n * n_kv * rows;
  }
  plan.workspace_rows = i32(ws_row);
  SS_CHECK(static_cast<int64_t>(plan.items.size()) <= INT32_MAX);
  return plan;
}

}  // namespace shardserve::gpu
