#include "model/kv_cache/kv_cache.h"

#include <string>

#include "base/check.h"

namespace shardserve {

KvCache::KvCache(const KvCacheShape& shape) : shape_(shape) {
  SS_CHECK(shape.n_blocks >= 0 && shape.block_size > 0 && shape.head_dim > 0);
  storage_.reset(new uint16_t[static_cast<size_t>(shape.block_bytes() / 2 * shape.n_blocks)]);
  free_.reserve(shape.n_blocks);
  for (int64_t b = shape.n_blocks - 1; b >= 0; --b) free_.push_back(static_cast<int32_t>(b));
}

void KvCache::use(Allocation how) {
  SS_CHECK(allocation_ == Allocation::kUnset || allocation_ == how,
           "a KV cache is driven by reserve() or by attach(), not both");
  allocation_ = how;
}

Status KvCache::attach(int64_t seq, std::span<const int32_t> blocks) {
  use(Allocation::kAttach);
  for (int32_t b : blocks)
    if (b < 0 || b >= shape_.n_blocks)
      return Error{"KV block " + std::to_string(b) + " is outside the cache's " +
                   std::to_string(shape_.n_blocks) + " blocks"};
  std::vector<int32_t>& table = tables_[seq];
  table.insert(table.end(), blocks.begin(), blocks.end());
  return {};
}

Status KvCache::reserve(int64_t seq, int64_t n_positions) {
  use(Allocation::kReserve);
  std::vector<int32_t>& table = tables_[seq];
  const int64_t needed = blocks_for(n_positions) - static_cast<int64_t>(table.size());
  if (needed <= 0) return {};
  if (needed > free_blocks()) {
    if (table.empty()) tables_.erase(seq);
    return Error{"KV cache is full: " + std::to_string(needed) + " blocks of " +
                 std::to_string(shape_.block_size) + " positions needed, " +
                 std::to_string(free_blocks()) + " free"};
  }
  for (int64_t i = 0; i < needed; ++i) {
    table.push_back(free_.back());
    free_.pop_back();
  }
  return {};
}

void KvCache::release(int64_t seq) {
  auto it = tables_.find(seq);
  if (it == tables_.end()) return;
  if (allocation_ == Allocation::kReserve)
    for (auto b = it->second.rbegin(); b != it->second.rend(); ++b) free_.push_back(*b);
  tables_.erase(it);
}

int64_t KvCache::capacity(int64_t seq) const {
  auto it = tables_.find(seq);
  return it == tables_.end() ? 0 : static_cast<int64_t>(it->second.size()) * shape_.block_size;
}

const std::vector<int32_t>& KvCache::block_table(int64_t seq) const {
  auto it = tables_.find(seq);
  SS_CHECK(it != tables_.end(), "block table of an unknown sequence");
  return it->second;
}

size_t KvCache::offset(int kv, int64_t layer, int32_t block, int64_t kv_head) const {
  const int64_t slab = shape_.block_size * shape_.head_dim;
  const int64_t per_block = shape_.n_kv_heads * slab;
  const int64_t per_layer = shape_.n_blocks * per_block;
  const int64_t per_kv = shape_.n_layers * per_layer;
  return static_cast<size_t>(kv * per_kv + layer * per_layer + block * per_block + kv_head * slab);
}

}  // namespace shardserve
