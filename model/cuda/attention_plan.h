// How one step's paged attention is cut into thread blocks: query tiles, context partitions
// and the merges of split contexts (model/cuda/attention.cuh runs the plan on the device).
// Host code only, no CUDA: it builds and is unit-tested everywhere.
//
// Tokens: positions[t] and table_begin[t] as in gpu::TokenSlots. A segment is a run of
// consecutive tokens with the same table_begin and consecutive positions (a prefill chunk, or
// one decode token); it is cut into query tiles of at most tile_tokens tokens, each tile times
// the `group` query heads sharing a KV head (rows r = i * group + g, at most tile_tokens * group).
// A tile attends to [0, pos0 + m) (row i causally to [0, pos0 + i]). A split tile's context is
// cut into partitions of `partition` positions: one work item each, writing partial results
// (unnormalized output, running max and sum per row) to workspace rows, and one merge item.
//
// Splitting (Split::kAuto): tiles that are their segment's only tile (decode tokens, short
// chunks) always split; all tiles split when the step has fewer than target_blocks blocks
// unsplit. The partition is 512 positions, halved down to 128 while the step has fewer than
// target_blocks blocks, then doubled while the workspace would exceed max_workspace_bytes.
#pragma once

#include <cstdint>
#include <vector>

namespace shardserve::gpu {

// One thread block per (item, KV head): tokens t0 .. t0 + m - 1 (positions pos0 ..) against
// context positions [c0, c1). ws_row < 0: the block writes the normalized output. Else the
// partial result of KV head h, row r goes to workspace row ws_row + h * m * group + r.
struct AttentionWorkItem {
  int32_t t0, m, pos0, c0, c1, table_begin, ws_row, unused;
};
static_assert(sizeof(AttentionWorkItem) == 32);

// One thread block per (merge, KV head): partition p of KV head h, row r is at workspace row
// ws_row + (p * n_kv_heads + h) * m * group + r, for p < n_parts.
struct AttentionMergeItem {
  int32_t t0, m, ws_row, n_parts;
};
static_assert(sizeof(AttentionMergeItem) == 16);

struct AttentionPlanOptions {
  // Positions per partition of a split context; 0: chosen per step (see above).
  int64_t partition = 0;
  // kNever and kAlways force one path (tests, benchmarks).
  enum class Split { kAuto, kNever, kAlways } split = Split::kAuto;
};

struct AttentionPlanShape {
  int64_t group = 1;            // query heads per KV head
  int64_t tile_tokens = 1;      // tokens per query tile (the kernel's rows / group)
  int64_t n_kv_heads = 1;       // blocks per item
  int64_t head_dim = 64;        // workspace floats per row: head_dim + 2
  int64_t target_blocks = 264;  // about 2 blocks per SM
  int64_t max_workspace_bytes = int64_t{64} << 20;
};

struct AttentionPlan {
  std::vector<AttentionWorkItem> items;
  std::vector<AttentionMergeItem> merges;
  int64_t partition = 0;       // the partition used (when anything split)
  int64_t workspace_rows = 0;  // rows of head_dim + 2 floats
};

// positions and table_begin: n_tokens entries each. Preconditions (aborting checks): positions
// and table_begin >= 0, the shape's fields > 0, int32 fields do not overflow.
// (C++17: attention.cu includes this header.)
AttentionPlan plan_attention(const int32_t* positions, const int32_t* table_begin, int64_t n_tokens,
                             const AttentionPlanShape& shape, const AttentionPlanOptions& options);

}  // namespace shardserve::gpu
