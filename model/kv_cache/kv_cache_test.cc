#include "model/kv_cache/kv_cache.h"

#include <gtest/gtest.h>

#include <set>

namespace shardserve {
namespace {

KvCacheShape small_shape(int64_t n_blocks) {
  return {.n_layers = 2, .n_kv_heads = 2, .head_dim = 4, .block_size = 4, .n_blocks = n_blocks};
}

TEST(KvCache, ReserveGrowsTablesWithDistinctBlocks) {
  KvCache kv(small_shape(8));
  ASSERT_TRUE(kv.reserve(1, 5).ok());  // 2 blocks
  ASSERT_TRUE(kv.reserve(2, 4).ok());  // 1 block
  ASSERT_TRUE(kv.reserve(1, 8).ok());  // still 2 blocks
  ASSERT_TRUE(kv.reserve(1, 9).ok());  // 3 blocks
  EXPECT_EQ(kv.block_table(1).size(), 3u);
  EXPECT_EQ(kv.capacity(1), 12);
  EXPECT_EQ(kv.used_blocks(), 4);
  std::set<int32_t> blocks(kv.block_table(1).begin(), kv.block_table(1).end());
  blocks.insert(kv.block_table(2).begin(), kv.block_table(2).end());
  EXPECT_EQ(blocks.size(), 4u);
}

TEST(KvCache, FullPoolFailsWithoutChangingAnything) {
  KvCache kv(small_shape(3));
  ASSERT_TRUE(kv.reserve(1, 8).ok());
  Status s = kv.reserve(2, 8);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("2 blocks"), std::string::npos) << s.message();
  EXPECT_NE(s.message().find("1 free"), std::string::npos) << s.message();
  EXPECT_FALSE(kv.contains(2));
  EXPECT_EQ(kv.free_blocks(), 1);
}

TEST(KvCache, ReleaseReturnsBlocksAndIsIdempotent) {
  KvCache kv(small_shape(4));
  ASSERT_TRUE(kv.reserve(7, 16).ok());
  EXPECT_EQ(kv.free_blocks(), 0);
  kv.release(7);
  kv.release(7);
  EXPECT_EQ(kv.free_blocks(), 4);
  EXPECT_FALSE(kv.contains(7));
}

TEST(KvCache, SlabsDoNotOverlap) {
  KvCache kv(small_shape(2));
  std::set<uint16_t*> starts;
  for (int64_t l = 0; l < 2; ++l)
    for (int32_t b = 0; b < 2; ++b)
      for (int64_t h = 0; h < 2; ++h) {
        starts.insert(kv.keys(l, b, h));
        starts.insert(kv.values(l, b, h));
      }
  EXPECT_EQ(starts.size(), 16u);
  // Writing every slab fully must stay inside storage (checked by ASan builds).
  for (uint16_t* p : starts) std::fill(p, p + 16, uint16_t{1});
}

}  // namespace
}  // namespace shardserve
