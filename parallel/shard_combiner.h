// How a model's forward pass combines the results of the ranks of a tensor-parallel group,
// without knowing how the ranks talk (MPI between processes in worker/group.cc, threads in
// tests). Every rank of the group calls the same methods in the same order.
#pragma once

#include <algorithm>
#include <cstdint>
#include <span>

#include "parallel/shard_plan.h"

namespace shardserve {

// The one summation order of a row-parallel product: out[i] = segments[0][i] + segments[1][i]
// + ... in segment order (`segments` = [n_segments][n], every rank's segments in rank order).
// Every combiner adds with it, so a product has the same bits whoever completes it.
inline void add_segments_in_order(const float* segments, int64_t n_segments, int64_t n,
                                  float* out) {
  std::copy(segments, segments + n, out);
  for (int64_t seg = 1; seg < n_segments; ++seg)
    for (int64_t i = 0; i < n; ++i) out[i] += segments[seg * n + i];
}

class ShardCombiner {
 public:
  virtual ~ShardCombiner() = default;

  // Completes a row-parallel product: each rank holds the partial sums of its reduction
  // segments (shard_plan.h), `partials` = [mine][n] where mine = segments_per_rank[rank];
  // out[i] = the sum of every segment's partials[.][i] over all ranks, added in segment order.
  // Same bits on every rank and for every tp.
  virtual void sum_segments(const float* partials, std::span<const int> segments_per_rank,
                            int64_t n, float* out) = 0;

  // Joins column slices: rank r holds `mine` = [n_rows][cols_per_rank[r].size()], the columns
  // cols_per_rank[r] of an [n_rows][width] matrix (the slices are contiguous, in rank order,
  // and cover [0, width)); every rank receives the whole matrix in `out`.
  virtual void gather_columns(const float* mine, int64_t n_rows,
                              std::span<const Range> cols_per_rank, float* out) = 0;
};

}  // namespace shardserve
