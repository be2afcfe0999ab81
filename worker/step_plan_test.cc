#include "worker/step_plan.h"

#include <gtest/gtest.h>

namespace shardserve {
namespace {

StepPlan sample_plan() {
  StepPlan p;
  p.step_id = 42;
  p.released = {7, 9};
  p.chunks.push_back({.seq = 1,
                      .start_pos = 0,
                      .tokens = {5, 6, 7},
                      .need_logits = true,
                      .all_logits = false,
                      .blocks = {3, 0, 12}});
  p.chunks.push_back({.seq = 2, .start_pos = 17, .tokens = {3}, .need_logits = true});
  p.chunks.push_back({.seq = 3, .start_pos = 64, .tokens = {1, 2}, .need_logits = false});
  p.chunks.push_back(
      {.seq = 4, .start_pos = 0, .tokens = {9, 8, 7}, .need_logits = true, .all_logits = true});
  return p;
}

TEST(StepPlan, RoundTrips) {
  StepPlan p = sample_plan();
  auto bytes = encode_step_plan(p);
  auto back = decode_step_plan(bytes);
  ASSERT_TRUE(back.ok()) << back.error().message;
  EXPECT_EQ(*back, p);

  StepPlan stop{.step_id = 43, .shutdown = true};
  auto b2 = decode_step_plan(encode_step_plan(stop));
  ASSERT_TRUE(b2.ok());
  EXPECT_TRUE(b2->shutdown);
}

TEST(StepPlan, EveryTruncationAndExtensionIsRejected) {
  auto bytes = encode_step_plan(sample_plan());
  for (size_t n = 0; n < bytes.size(); ++n)
    EXPECT_FALSE(decode_step_plan(std::span(bytes).first(n)).ok()) << n;
  bytes.push_back(0);
  EXPECT_FALSE(decode_step_plan(bytes).ok());
}

TEST(StepPlan, RejectsNegativeBlockIds) {
  StepPlan p = sample_plan();
  p.chunks[0].blocks = {-1};
  EXPECT_FALSE(decode_step_plan(encode_step_plan(p)).ok());
}

TEST(StepPlan, RejectsOtherVersionsWithAReason) {
  auto bytes = encode_step_plan(sample_plan());
  bytes[4] = 9;
  auto r = decode_step_plan(bytes);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("version"), std::string::npos);
}

}  // namespace
}  // namespace shardserve
