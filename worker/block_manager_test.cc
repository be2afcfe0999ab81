// BlockManager: allocation and reference counts, publishing and finding prefixes, eviction
// order (least recently released first, a sequence's tail before its head), salts.
#include "worker/block_manager.h"

#include <gtest/gtest.h>

#include <vector>

namespace shardserve {
namespace {

std::vector<TokenId> seq(int n, int start) {
  std::vector<TokenId> t;
  for (int i = 0; i < n; ++i) t.push_back(start + i);
  return t;
}

// Allocates blocks for `tokens` (whole blocks) and publishes each: a sequence that computed
// them.
std::vector<int32_t> compute(BlockManager& m, const std::vector<TokenId>& tokens, uint64_t salt) {
  const int64_t bs = m.block_size();
  const auto n = static_cast<int64_t>(tokens.size()) / bs;
  auto blocks = m.allocate(n);
  EXPECT_TRUE(blocks.has_value());
  uint64_t parent = salt;
  for (int64_t i = 0; i < n; ++i)
    parent = m.publish((*blocks)[i], parent, std::span(tokens).subspan(i * bs, bs));
  return *blocks;
}

TEST(BlockManager, AllocatesUntilFullAndReleasesByReference) {
  BlockManager m(4, 2, true);
  auto a = m.allocate(3);
  ASSERT_TRUE(a.has_value());
  EXPECT_EQ(m.free_blocks(), 1);
  EXPECT_FALSE(m.allocate(2).has_value());  // nothing taken
  EXPECT_EQ(m.free_blocks(), 1);
  m.release(*a);
  EXPECT_EQ(m.free_blocks(), 4);
  EXPECT_EQ(m.used_blocks(), 0);
}

TEST(BlockManager, FindsTheLongestCachedPrefixAndSharesIt) {
  BlockManager m(8, 2, true);
  const auto tokens = seq(6, 10);  // three blocks
  const auto blocks = compute(m, tokens, 0);
  EXPECT_EQ(m.cached_blocks(), 3);

  auto other = tokens;
  other[4] = 99;  // the third block differs
  auto match = m.find_prefix(other, 0, 10);
  ASSERT_EQ(match.blocks.size(), 2u);
  EXPECT_EQ(match.blocks[0], blocks[0]);
  EXPECT_EQ(match.blocks[1], blocks[1]);
  EXPECT_EQ(match.unreferenced, 0);                         // still held by the first sequence
  EXPECT_EQ(m.find_prefix(other, 0, 1).blocks.size(), 1u);  // capped
  EXPECT_TRUE(m.find_prefix(other, 7, 10).blocks.empty());  // another salt
  EXPECT_TRUE(m.find_prefix(seq(6, 11), 0, 10).blocks.empty());

  m.acquire(match);
  EXPECT_EQ(m.refs(blocks[0]), 2);
  m.release(blocks);
  EXPECT_EQ(m.refs(blocks[0]), 1);
  EXPECT_EQ(m.free_blocks(), 8 - 2);  // the third block is free, the shared two are held
  // Free but cached: still found, and taking it uses a free block.
  auto again = m.find_prefix(tokens, 0, 10);
  EXPECT_EQ(again.blocks.size(), 3u);
  EXPECT_EQ(again.unreferenced, 1);
}

TEST(BlockManager, PublishingTheSameContentTwiceKeepsTheFirstBlock) {
  BlockManager m(4, 2, true);
  const auto tokens = seq(2, 1);
  const auto a = compute(m, tokens, 0);
  const auto b = compute(m, tokens, 0);  // computed again, concurrently
  EXPECT_EQ(m.cached_blocks(), 1);
  EXPECT_EQ(m.find_prefix(tokens, 0, 1).blocks.at(0), a[0]);
  m.release(b);  // private: straight back to the free blocks
  EXPECT_EQ(m.cached_blocks(), 1);
  EXPECT_EQ(m.free_blocks(), 3);
}

TEST(BlockManager, EvictsTheLeastRecentlyReleasedAndTailsFirst) {
  BlockManager m(4, 1, true);
  const auto first = compute(m, seq(2, 0), 0);    // blocks for tokens 0, 1
  const auto second = compute(m, seq(2, 10), 0);  // blocks for tokens 10, 11
  m.release(first);
  m.release(second);
  EXPECT_EQ(m.free_blocks(), 4);
  // Nothing empty is left: each allocation evicts. First the tail of the first sequence.
  auto one = m.allocate(1);
  ASSERT_TRUE(one.has_value());
  EXPECT_EQ(one->at(0), first[1]);
  EXPECT_EQ(m.evictions(), 1);
  EXPECT_EQ(m.find_prefix(seq(2, 0), 0, 2).blocks.size(), 1u);  // its head survives
  auto two = m.allocate(1);
  EXPECT_EQ(two->at(0), first[0]);
  EXPECT_EQ(m.find_prefix(seq(2, 10), 0, 2).blocks.size(), 2u);
  // A block found again and acquired leaves the eviction order.
  auto match = m.find_prefix(seq(2, 10), 0, 2);
  m.acquire(match);
  EXPECT_FALSE(m.allocate(1).has_value());
}

TEST(BlockManager, OffPublishesNothing) {
  BlockManager m(4, 2, false);
  const auto tokens = seq(4, 0);
  compute(m, tokens, 0);
  EXPECT_EQ(m.cached_blocks(), 0);
  EXPECT_TRUE(m.find_prefix(tokens, 0, 2).blocks.empty());
}

}  // namespace
}  // namespace shardserve
