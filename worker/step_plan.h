// The plan of one step of a worker group, sent by the leader to every peer rank.
//
// A plan lists the chunks to run (new sequences' prompt chunks and running sequences'
// decode tokens, see SeqChunk in model/rank_model.h) and the sequences to release
// before the step. Every rank applies the same plan to its shard in the same order, so their
// KV caches stay in step; the step id lets a rank detect a lost or repeated plan.
//
// Wire format (little-endian, versioned): header {magic "SSTP", u16 version, u16 flags,
// u64 step_id, u32 n_chunks, u32 n_released}, then per chunk {i64 seq, i64 start_pos,
// u32 n_tokens, u8 outputs (1: need_logits, 2: all_logits), i32 tokens[n_tokens], u32 n_blocks,
// i32 blocks[n_blocks]}, then i64 released[n_released].
// decode() validates everything against the buffer size and returns an Error on mismatch.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "base/status.h"
#include "base/token_id.h"

namespace shardserve {

struct PlannedChunk {
  int64_t seq = 0;
  int64_t start_pos = 0;
  std::vector<TokenId> tokens;
  bool need_logits = false;
  bool all_logits = false;  // a logits row for every token (SeqChunk::all_logits)
  // Blocks appended to the sequence's block table before the chunk runs (its first chunk's
  // list starts with the cached prefix blocks it shares with others).
  std::vector<int32_t> blocks;
  bool operator==(const PlannedChunk&) const = default;
};

struct StepPlan {
  uint64_t step_id = 0;
  bool shutdown = false;          // the group stops after this plan
  std::vector<int64_t> released;  // sequences whose KV blocks are freed first
  std::vector<PlannedChunk> chunks;
  bool operator==(const StepPlan&) const = default;
};

std::vector<uint8_t> encode_step_plan(const StepPlan& plan);
Result<StepPlan> decode_step_plan(std::span<const uint8_t> bytes);

}  // namespace shardserve
