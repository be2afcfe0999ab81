#include "worker/block_manager.h"

#include <algorithm>
#include <random>

#include "base/check.h"
#include "base/hash.h"

namespace shardserve {

BlockManager::BlockManager(int64_t n_blocks, int64_t block_size, bool prefix_caching)
    : block_size_(block_size),
      prefix_caching_(prefix_caching),
      key_((uint64_t{std::random_device{}()} << 32) ^ std::random_device{}()),
      refs_(n_blocks, 0),
      lru_prev_(n_blocks, kNone),
      lru_next_(n_blocks, kNone),
      cached_(n_blocks),
      n_free_(n_blocks) {
  SS_CHECK(n_blocks >= 0 && n_blocks < INT32_MAX && block_size > 0);
  empty_.reserve(n_blocks);
  for (int64_t b = n_blocks - 1; b >= 0; --b) empty_.push_back(static_cast<int32_t>(b));
}

uint64_t BlockManager::chain_hash(uint64_t parent, std::span<const TokenId> tokens) const {
  uint64_t h = mix64(parent ^ key_);
  for (TokenId t : tokens) h = mix64(h ^ (static_cast<uint64_t>(static_cast<uint32_t>(t)) + key_));
  return h;
}

BlockManager::PrefixMatch BlockManager::find_prefix(std::span<const TokenId> tokens, uint64_t salt,
                                                    int64_t max_blocks) const {
  PrefixMatch match;
  if (!prefix_caching_) return match;
  const int64_t n =
      std::min<int64_t>(max_blocks, static_cast<int64_t>(tokens.size()) / block_size_);
  uint64_t parent = salt;
  for (int64_t i = 0; i < n; ++i) {
    const auto block_tokens = tokens.subspan(i * block_size_, block_size_);
    const uint64_t h = chain_hash(parent, block_tokens);
    auto it = by_hash_.find(h);
    if (it == by_hash_.end()) break;
    const Cached& c = *cached_[it->second];
    if (c.parent != parent ||
        !std::equal(c.tokens.begin(), c.tokens.end(), block_tokens.begin(), block_tokens.end()))
      break;
    match.blocks.push_back(it->second);
    match.hashes.push_back(h);
    if (refs_[it->second] == 0) ++match.unreferenced;
    parent = h;
  }
  return match;
}

void BlockManager::acquire(const PrefixMatch& match) {
  for (int32_t b : match.blocks) {
    SS_CHECK(cached_[b].has_value(), "acquiring a block that is no longer cached");
    if (refs_[b]++ == 0) {
      lru_remove(b);
      --n_free_;
    }
  }
}

std::optional<std::vector<int32_t>> BlockManager::allocate(int64_t n) {
  if (n > n_free_) return std::nullopt;
  std::vector<int32_t> out;
  out.reserve(n);
  for (int64_t i = 0; i < n; ++i) {
    int32_t b = kNone;
    if (!empty_.empty()) {
      b = empty_.back();
      empty_.pop_back();
    } else {
      b = lru_head_;
      SS_CHECK(b != kNone, "free block count out of step");
      lru_remove(b);
      forget(b);
      ++evictions_;
    }
    refs_[b] = 1;
    --n_free_;
    out.push_back(b);
  }
  return out;
}

uint64_t BlockManager::publish(int32_t block, uint64_t parent, std::span<const TokenId> tokens) {
  SS_CHECK(static_cast<int64_t>(tokens.size()) == block_size_ && refs_[block] > 0);
  const uint64_t h = chain_hash(parent, tokens);
  if (!prefix_caching_ || cached_[block] || by_hash_.count(h)) return h;
  cached_[block] = Cached{.hash = h, .parent = parent, .tokens = {tokens.begin(), tokens.end()}};
  by_hash_.emplace(h, block);
  return h;
}

void BlockManager::release(std::span<const int32_t> blocks) {
  for (auto it = blocks.rbegin(); it != blocks.rend(); ++it) {
    const int32_t b = *it;
    SS_CHECK(refs_[b] > 0, "releasing a block nobody holds");
    if (--refs_[b] > 0) continue;
    ++n_free_;
    if (cached_[b]) {
      lru_push_back(b);
    } else {
      empty_.push_back(b);
    }
  }
}

void BlockManager::lru_push_back(int32_t b) {
  lru_prev_[b] = lru_tail_;
  lru_next_[b] = kNone;
  if (lru_tail_ != kNone) {
    lru_next_[lru_tail_] = b;
  } else {
    lru_head_ = b;
  }
  lru_tail_ = b;
}

void BlockManager::lru_remove(int32_t b) {
  const int32_t prev = lru_prev_[b];
  const int32_t next = lru_next_[b];
  if (prev != kNone) {
    lru_next_[prev] = next;
  } else {
    lru_head_ = next;
  }
  if (next != kNone) {
    lru_prev_[next] = prev;
  } else {
    lru_tail_ = prev;
  }
  lru_prev_[b] = lru_next_[b] = kNone;
}

void BlockManager::forget(int32_t b) {
  by_hash_.erase(cached_[b]->hash);
  cached_[b].reset();
}

}  // namespace shardserve
