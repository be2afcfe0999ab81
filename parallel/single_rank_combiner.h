// The ShardCombiner of a "group" of one rank in one process (`shardserve generate`). It adds a
// row-parallel product's reduction-segment partials with add_segments_in_order, as a worker
// group does (worker/group.cc): so a lone process computes the served model's bits. Without any
// combiner a model sums each product whole instead (one dot product per output: llama.cpp's order),
// which gives other bits. Stateless; one thread at a time per object, like the model that calls it.
#pragma once

#include <algorithm>
#include <cstdint>
#include <span>

#include "base/check.h"
#include "parallel/shard_combiner.h"

namespace shardserve {

class SingleRankCombiner final : public ShardCombiner {
 public:
  void sum_segments(const float* partials, std::span<const int> segments_per_rank, int64_t n,
                    float* out) override {
    SS_CHECK(segments_per_rank.size() == 1, "a single-rank combiner serves tp = 1 only");
    add_segments_in_order(partials, segments_per_rank[0], n, out);
  }

  void gather_columns(const float* mine, int64_t n_rows, std::span<const Range> cols_per_rank,
                      float* out) override {
    SS_CHECK(cols_per_rank.size() == 1, "a single-rank combiner serves tp = 1 only");
    std::copy(mine, mine + n_rows * cols_per_rank[0].size(), out);
  }
};

}  // namespace shardserve
