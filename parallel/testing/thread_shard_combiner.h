// A ShardCombiner for tensor-parallel "ranks" that are threads of one process (tests and
// benchmarks). Each rank publishes its buffer (segment partials or column slice), all meet at
// a barrier, each reads every rank's buffer, and all meet again before anyone may reuse its
// buffer. The same arithmetic as the MPI group's (worker/group.cc): for sums, the first
// segment copied and the others added one by one in segment order.
#pragma once

#include <algorithm>
#include <barrier>
#include <span>
#include <vector>

#include "parallel/shard_combiner.h"

namespace shardserve::testing {

class ThreadShardCombiner final : public ShardCombiner {
 public:
  // State shared by the tp ranks of one group.
  struct Group {
    explicit Group(int tp) : barrier(tp), partials(tp) {}
    std::barrier<> barrier;
    std::vector<const float*> partials;
  };

  ThreadShardCombiner(Group& group, int rank) : group_(group), rank_(rank) {}

  void sum_segments(const float* partials, std::span<const int> per_rank, int64_t n,
                    float* out) override {
    group_.partials[rank_] = partials;
    group_.barrier.arrive_and_wait();
    bool first = true;
    for (size_t r = 0; r < per_rank.size(); ++r) {
      for (int k = 0; k < per_rank[r]; ++k) {
        const float* p = group_.partials[r] + k * n;
        if (first) {
          std::copy(p, p + n, out);
          first = false;
        } else {
          for (int64_t i = 0; i < n; ++i) out[i] += p[i];
        }
      }
    }
    group_.barrier.arrive_and_wait();
  }

  void gather_columns(const float* mine, int64_t n_rows, std::span<const Range> cols_per_rank,
                      float* out) override {
    group_.partials[rank_] = mine;
    group_.barrier.arrive_and_wait();
    const int64_t width = cols_per_rank.back().end;
    for (size_t r = 0; r < cols_per_rank.size(); ++r) {
      const Range cols = cols_per_rank[r];
      for (int64_t row = 0; row < n_rows; ++row)
        std::copy(group_.partials[r] + row * cols.size(),
                  group_.partials[r] + (row + 1) * cols.size(), out + row * width + cols.begin);
    }
    group_.barrier.arrive_and_wait();
  }

 private:
  Group& group_;
  int rank_;
};

}  // namespace shardserve::testing
