// Paged key/value cache for one rank's attention heads.
//
// Storage is a pool of fixed-size blocks of `block_size` token positions; each sequence owns
// a block table (its logical block i lives in physical block table[i]), so sequences grow
// without copying and memory is shared fairly by whoever is running. Storage is f16, keys
// first, then values: [K|V][layer][block][kv_head][slab], one slab of block_size x head_dim
// per KV head and block. The cache owns the layout of blocks; the forward pass owns the layout
// of a slab: values are [position][head_dim]; keys are [position][head_dim] in the llama.cpp
// arithmetic and transposed to [head_dim][position] in the fastest one, so that a score is 16
// positions per instruction (model/kernels/cpu/attention_f16.h).
//
// Sequences are named by caller-chosen 64-bit ids. Blocks are allocated one of two ways, never
// both in one cache: reserve() takes them from the cache's own free list (a standalone engine),
// or attach() appends blocks the caller chose (a worker group, whose leader hands out blocks and
// may share a cached prefix's blocks between sequences: worker/block_manager.h). reserve()
// either grows the sequence's table to cover the positions asked for or changes nothing. Not
// thread-safe: owned by the thread that runs the model's steps (the forward pass reads and writes
// blocks from its pool threads, on disjoint positions).
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <unordered_map>
#include <vector>

#include "base/status.h"

namespace shardserve {

struct KvCacheShape {
  int64_t n_layers = 0;
  int64_t n_kv_heads = 0;  // heads held by this rank
  int64_t head_dim = 0;
  int64_t block_size = 16;  // positions per block
  int64_t n_blocks = 0;
  // Bytes one block takes across all layers, K and V.
  int64_t block_bytes() const { return 2 * n_layers * n_kv_heads * block_size * head_dim * 2; }
};

class KvCache {
 public:
  explicit KvCache(const KvCacheShape& shape);

  const KvCacheShape& shape() const { return shape_; }
  // With reserve(): blocks not in any table.
  int64_t free_blocks() const { return static_cast<int64_t>(free_.size()); }
  int64_t used_blocks() const { return shape_.n_blocks - free_blocks(); }
  // Blocks needed to hold n positions.
  int64_t blocks_for(int64_t n_positions) const {
    return (n_positions + shape_.block_size - 1) / shape_.block_size;
  }

  // Ensures positions [0, n_positions) of `seq` have blocks. Error (nothing changed) when
  // the pool is short, saying how many blocks were needed and how many are free.
  Status reserve(int64_t seq, int64_t n_positions);
  // Appends `blocks` to the sequence's table (creating it). Error (nothing changed) for an id
  // outside the pool.
  Status attach(int64_t seq, std::span<const int32_t> blocks);
  // Forgets the sequence's table; with reserve(), its blocks return to the pool. Unknown ids
  // are ignored (idempotent).
  void release(int64_t seq);
  bool contains(int64_t seq) const { return tables_.count(seq) != 0; }
  // Positions the sequence's blocks can hold.
  int64_t capacity(int64_t seq) const;

  const std::vector<int32_t>& block_table(int64_t seq) const;

  // First element of the given head's slab in a physical block: block_size x head_dim.
  uint16_t* keys(int64_t layer, int32_t block, int64_t kv_head) {
    return storage_.get() + offset(0, layer, block, kv_head);
  }
  uint16_t* values(int64_t layer, int32_t block, int64_t kv_head) {
    return storage_.get() + offset(1, layer, block, kv_head);
  }

 private:
  size_t offset(int kv, int64_t layer, int32_t block, int64_t kv_head) const;

  KvCacheShape shape_;
  // f16 bits, left uninitialised: pages become resident only when a block is first written.
  std::unique_ptr<uint16_t[]> storage_;
  enum class Allocation { kUnset, kReserve, kAttach };
  void use(Allocation how);

  std::vector<int32_t> free_;  // stack of free physical blocks (reserve() only)
  Allocation allocation_ = Allocation::kUnset;
  std::unordered_map<int64_t, std::vector<int32_t>> tables_;
};

}  // namespace shardserve
