// PrefixRouter: a request goes to the replica it sent the same prompt start to, unless that one
// is much busier; otherwise, and for new prompts, to the least busy; salts and cache keys.
#include "coordinator/serving/prefix_router.h"

#include <gtest/gtest.h>

#include <vector>

namespace shardserve {
namespace {

GroupInfo group(uint64_t id, int64_t in_flight, std::string model = "m") {
  GroupInfo g;
  g.id = id;
  g.hello.group_name = "g" + std::to_string(id);
  g.hello.model = std::move(model);
  g.hello.max_batch = 8;
  g.hello.block_size = 4;
  g.hello.kv_blocks = 100;
  g.in_flight = in_flight;
  return g;
}

std::vector<TokenId> tokens(int n, int seed) {
  std::vector<TokenId> t;
  for (int i = 0; i < n; ++i) t.push_back(seed * 1000 + i);
  return t;
}

TEST(PrefixRouter, SendsAPromptWhereItsStartWent) {
  PrefixRouter router;
  const std::vector<GroupInfo> idle = {group(1, 0), group(2, 0)};
  auto first = router.route(idle, tokens(20, 1), 0, "");
  ASSERT_TRUE(first.has_value());
  EXPECT_EQ(first->reason, PrefixRouter::Reason::kLoad);
  EXPECT_EQ(first->group.id, 1u);  // ties: the lower id
  // The same start, now with group 1 a little busier: it still goes there.
  std::vector<TokenId> longer = tokens(20, 1);
  longer.push_back(7);
  const std::vector<GroupInfo> busy1 = {group(1, 2), group(2, 0)};
  auto again = router.route(busy1, longer, 0, "");
  EXPECT_EQ(again->group.id, 1u);
  EXPECT_EQ(again->reason, PrefixRouter::Reason::kPrefix);
  EXPECT_EQ(again->matched_tokens, 20);
  // Another prompt goes to the least busy.
  EXPECT_EQ(router.route(busy1, tokens(20, 2), 0, "")->group.id, 2u);
}

TEST(PrefixRouter, AMuchBusierGroupLosesThePrefix) {
  PrefixRouter router(0.5);
  router.route({group(1, 0), group(2, 0)}, tokens(20, 1), 0, "");
  auto choice = router.route({group(1, 5), group(2, 0)}, tokens(20, 1), 0, "");  // 5/8 > 0.5
  EXPECT_EQ(choice->group.id, 2u);
  EXPECT_EQ(choice->reason, PrefixRouter::Reason::kLoad);
}

TEST(PrefixRouter, SaltsAndPartialBlocksDoNotMatch) {
  PrefixRouter router;
  router.route({group(1, 0), group(2, 0)}, tokens(20, 1), 7, "");
  // Another salt: no match, the least busy.
  EXPECT_EQ(router.route({group(1, 1), group(2, 0)}, tokens(20, 1), 8, "")->reason,
            PrefixRouter::Reason::kLoad);
  // Fewer tokens than a block: nothing to match.
  PrefixRouter fresh;
  fresh.route({group(1, 0), group(2, 0)}, tokens(3, 1), 0, "");
  EXPECT_EQ(fresh.route({group(1, 1), group(2, 0)}, tokens(3, 1), 0, "")->group.id, 2u);
}

TEST(PrefixRouter, CacheKeysPinRequestsToAGroup) {
  PrefixRouter router;
  router.route({group(1, 0), group(2, 0)}, tokens(5, 1), 0, "user-42");
  auto pinned = router.route({group(1, 2), group(2, 0)}, tokens(5, 9), 0, "user-42");
  EXPECT_EQ(pinned->group.id, 1u);
  EXPECT_EQ(pinned->reason, PrefixRouter::Reason::kCacheKey);
}

TEST(PrefixRouter, ForgetsGroupsThatAreGone) {
  PrefixRouter router;
  router.route({group(1, 0), group(2, 1)}, tokens(20, 1), 0, "");
  // Group 1 died and came back as group 3: nothing of the picture is left for it.
  auto choice = router.route({group(3, 1), group(2, 0)}, tokens(20, 1), 0, "");
  EXPECT_EQ(choice->group.id, 2u);
  EXPECT_EQ(choice->reason, PrefixRouter::Reason::kLoad);
  EXPECT_FALSE(router.route({}, tokens(20, 1), 0, "").has_value());
}

TEST(PrefixRouter, BlockHashesChainEverythingBefore) {
  const auto a = prompt_block_hashes(tokens(12, 1), 4, 0);
  ASSERT_EQ(a.size(), 3u);
  auto other = tokens(12, 1);
  other[1] = -5;
  const auto b = prompt_block_hashes(other, 4, 0);
  for (size_t i = 0; i < 3; ++i) EXPECT_NE(a[i], b[i]) << i;
  EXPECT_EQ(prompt_block_hashes(tokens(15, 1), 4, 0), a);
  EXPECT_NE(prompt_block_hashes(tokens(12, 1), 4, 1), a);
}

}  // namespace
}  // namespace shardserve

namespace shardserve {
namespace {

TEST(PrefixRouter, RoutesNotYetSubmittedCountAsInFlight) {
  PrefixRouter router;
  const std::vector<GroupInfo> idle = {group(1, 0), group(2, 0)};
  // Two requests routed at once, before either reached its group: one each.
  auto a = router.route(idle, tokens(20, 1), 0, "");
  auto b = router.route(idle, tokens(20, 2), 0, "");
  EXPECT_NE(a->group.id, b->group.id);
  router.submitted(a->group.id);
  router.submitted(b->group.id);
  // Submitted and finished (the snapshot says idle again): ties go to the lower id.
  EXPECT_EQ(router.route(idle, tokens(20, 3), 0, "")->group.id, 1u);
}

}  // namespace
}  // namespace shardserve
