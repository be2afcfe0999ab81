// A PartialSum for tensor-parallel "ranks" that are threads of one process (tests and
// benchmarks): each rank publishes its segment partials, all meet at a barrier, each adds every
// segment in order (rank order is segment order), and all meet again before anyone may reuse its
// buffer. The same arithmetic as the MPI group's (worker/group.cc): the first segment copied,
// the others added one by one.
#pragma once

#include <barrier>
#include <vector>

#include "model/llama/llama_model.h"

namespace shardserve::testing {

class ThreadPartialSum final : public PartialSum {
 public:
  // State shared by the tp ranks of one group.
  struct Group {
    explicit Group(int tp) : barrier(tp), partials(tp) {}
    std::barrier<> barrier;
    std::vector<const float*> partials;
  };

  ThreadPartialSum(Group& group, int rank) : group_(group), rank_(rank) {}

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

 private:
  Group& group_;
  int rank_;
};

}  // namespace shardserve::testing
