// The KV-cache blocks of one worker group, as the leader hands them out, with automatic
// prefix caching.
//
// Every rank's KvCache has the same n_blocks physical blocks; the leader alone decides which
// block holds what, and the step plan tells the ranks (PlannedChunk::blocks), so the ranks'
// block tables always agree at every tp.
//
// Prefix caching: a full block is named by a chained hash of its tokens and of everything
// before it (the first block's parent is the request's cache salt, so tenants with different
// salts never share blocks and cannot probe each other's prompts through timing). Once a
// sequence has computed a full block, publish() makes it findable; a later sequence whose
// tokens start the same way takes the longest run of such blocks (acquire_prefix) and skips
// computing them. A lookup compares the stored tokens and parent hash too, so a hash collision
// can only miss, never return the wrong block. Blocks are shared read-only: only full blocks are
// cached and a sequence writes only past its cached prefix.
//
// Reference counts: a block is held by every sequence whose table has it. An unreferenced block
// is free. Free blocks that hold a published prefix stay findable until they are needed: fresh
// blocks come first from those that hold nothing, then by evicting the least recently released
// cached block. A sequence releases its blocks last first, so the tail of a prompt is evicted
// before its head.
//
// Not thread-safe: the leader's scheduler owns it.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <unordered_map>
#include <vector>

#include "base/token_id.h"

namespace shardserve {

class BlockManager {
 public:
  // prefix_caching false: blocks are never published nor found (publish() is a no-op).
  BlockManager(int64_t n_blocks, int64_t block_size, bool prefix_caching);

  int64_t n_blocks() const { return static_cast<int64_t>(refs_.size()); }
  int64_t block_size() const { return block_size_; }
  bool prefix_caching() const { return prefix_caching_; }
  // Blocks allocate() can hand out now: unreferenced ones, cached or not.
  int64_t free_blocks() const { return n_free_; }
  int64_t used_blocks() const { return n_blocks() - n_free_; }
  // Blocks holding a published prefix, referenced or not.
  int64_t cached_blocks() const { return static_cast<int64_t>(by_hash_.size()); }

  // The hash of a full block of `tokens` whose prefix hashes to `parent` (the cache salt for a
  // sequence's first block). Keyed by a secret drawn at construction, so that nobody can make
  // two prefixes collide on purpose.
  uint64_t chain_hash(uint64_t parent, std::span<const TokenId> tokens) const;

  struct PrefixMatch {
    std::vector<int32_t> blocks;   // the cached blocks, in order
    std::vector<uint64_t> hashes;  // their chain hashes
    int64_t unreferenced = 0;      // of them, how many are free now (taking them uses free)
  };
  // The longest run of cached blocks that `tokens` starts with, at most `max_blocks` (full
  // blocks only: tokens.size() / block_size at most). Changes nothing.
  PrefixMatch find_prefix(std::span<const TokenId> tokens, uint64_t salt, int64_t max_blocks) const;
  // Takes a reference on each block of a match found just before (nothing changed since).
  void acquire(const PrefixMatch& match);

  // `n` blocks, referenced once each, or nothing (and no change) if fewer are free.
  std::optional<std::vector<int32_t>> allocate(int64_t n);

  // `block` now holds the K/V of `tokens` (one full block) after the prefix hashed `parent`.
  // Makes it findable unless the same content is cached already (then the block stays
  // private to its sequence). Returns the block's chain hash either way.
  uint64_t publish(int32_t block, uint64_t parent, std::span<const TokenId> tokens);

  // Drops one reference on each block (a sequence's table, in order: released last first).
  void release(std::span<const int32_t> blocks);

  int64_t refs(int32_t block) const { return refs_[block]; }
  int64_t evictions() const { return evictions_; }  // cached blocks reused for other content

 private:
  static constexpr int32_t kNone = -1;
  struct Cached {
    uint64_t hash = 0;
    uint64_t parent = 0;
    std::vector<TokenId> tokens;
  };

  // Least recently released cached blocks first: an intrusive list over block ids.
  void lru_push_back(int32_t block);
  void lru_remove(int32_t block);
  void forget(int32_t block);  // unpublishes a cached block

  int64_t block_size_;
  bool prefix_caching_;
  uint64_t key_;
  std::vector<int32_t> refs_;   // per block
  std::vector<int32_t> empty_;  // free blocks that hold no published prefix (a stack)
  std::vector<int32_t> lru_prev_, lru_next_;
  int32_t lru_head_ = kNone, lru_tail_ = kNone;  // free cached blocks, oldest at the head
  std::vector<std::optional<Cached>> cached_;    // per block: what it holds, if published
  std::unordered_map<uint64_t, int32_t> by_hash_;
  int64_t n_free_ = 0;
  int64_t evictions_ = 0;
};

}  // namespace shardserve
