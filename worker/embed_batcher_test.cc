#include "worker/embed_batcher.h"

#include <gtest/gtest.h>

namespace shardserve {
namespace {

constexpr int64_t kVocab = 100;

EmbedInput input(int64_t id, int n_tokens) {
  return {.id = id, .tokens = std::vector<TokenId>(n_tokens, 7)};
}

std::vector<int64_t> ids(const StepPlan& plan) {
  std::vector<int64_t> out;
  for (const PlannedChunk& c : plan.chunks) {
    EXPECT_EQ(c.start_pos, 0);
    EXPECT_TRUE(c.need_logits);
    out.push_back(c.seq);
  }
  return out;
}

TEST(EmbedBatcher, StepsTakeTheOldestInputsThatFit) {
  EmbedBatcher b({.max_batch = 3, .max_batch_tokens = 100, .max_tokens = 256, .n_vocab = kVocab});
  for (int i = 1; i <= 5; ++i) ASSERT_TRUE(b.submit(input(i, 30)));
  EXPECT_EQ(ids(b.next_plan()), (std::vector<int64_t>{1, 2, 3}));  // max_batch
  ASSERT_TRUE(b.submit(input(6, 50)));
  EXPECT_EQ(ids(b.next_plan()), (std::vector<int64_t>{4, 5}));  // 30 + 30 + 50 > 100 tokens
  EXPECT_EQ(ids(b.next_plan()), (std::vector<int64_t>{6}));
  EXPECT_FALSE(b.has_work());
}

TEST(EmbedBatcher, AnInputLongerThanTheTokenBudgetRunsAlone) {
  EmbedBatcher b({.max_batch = 8, .max_batch_tokens = 64, .max_tokens = 256, .n_vocab = kVocab});
  ASSERT_TRUE(b.submit(input(1, 200)));
  ASSERT_TRUE(b.submit(input(2, 10)));
  EXPECT_EQ(ids(b.next_plan()), (std::vector<int64_t>{1}));
  EXPECT_EQ(ids(b.next_plan()), (std::vector<int64_t>{2}));
}

TEST(EmbedBatcher, StepIdsFollowEachOther) {
  EmbedBatcher b({.n_vocab = kVocab});
  ASSERT_TRUE(b.submit(input(1, 3)));
  EXPECT_EQ(b.next_plan().step_id, 1u);
  ASSERT_TRUE(b.submit(input(2, 3)));
  EXPECT_EQ(b.next_plan().step_id, 2u);
  StepPlan last = b.shutdown_plan();
  EXPECT_EQ(last.step_id, 3u);
  EXPECT_TRUE(last.shutdown);
  EXPECT_TRUE(last.chunks.empty());
}

TEST(EmbedBatcher, BadInputsAreRefusedWithTheNumbers) {
  EmbedBatcher b({.max_tokens = 256, .n_vocab = kVocab});
  Status empty = b.submit(input(1, 0));
  EXPECT_FALSE(empty);
  Status too_long = b.submit(input(2, 257));
  ASSERT_FALSE(too_long);
  EXPECT_EQ(too_long.message(), "the input has 257 tokens; the model takes at most 256");
  EXPECT_EQ(too_long.code(), ErrorCode::kInvalidInput);
  Status outside = b.submit({.id = 3, .tokens = {7, kVocab}});
  ASSERT_FALSE(outside);
  EXPECT_EQ(outside.message(), "token id 100 is outside the vocabulary (100 tokens)");
  EXPECT_EQ(outside.code(), ErrorCode::kInvalidInput);
  EXPECT_FALSE(b.has_work());
}

TEST(EmbedBatcher, CancelledInputsNeverRun) {
  EmbedBatcher b({.n_vocab = kVocab});
  for (int i = 1; i <= 3; ++i) ASSERT_TRUE(b.submit(input(i, 5)));
  EXPECT_TRUE(b.cancel(2));
  EXPECT_FALSE(b.cancel(2));   // idempotent
  EXPECT_FALSE(b.cancel(99));  // unknown
  EXPECT_EQ(b.waiting(), 2);
  EXPECT_EQ(ids(b.next_plan()), (std::vector<int64_t>{1, 3}));
}

TEST(EmbedBatcher, ResultsAreTheRowsInChunkOrder) {
  EmbedBatcher b({.n_vocab = kVocab});
  ASSERT_TRUE(b.submit(input(10, 4)));
  ASSERT_TRUE(b.submit(input(20, 6)));
  StepPlan plan = b.next_plan();
  const std::vector<float> outputs = {1, 2, 3, 4, 5, 6};
  auto results = b.on_step_done(plan, outputs, 3);
  ASSERT_EQ(results.size(), 2u);
  EXPECT_EQ(results[0].id, 10);
  EXPECT_EQ(results[0].n_tokens, 4);
  EXPECT_EQ(results[0].embedding, (std::vector<float>{1, 2, 3}));
  EXPECT_EQ(results[1].id, 20);
  EXPECT_EQ(results[1].n_tokens, 6);
  EXPECT_EQ(results[1].embedding, (std::vector<float>{4, 5, 6}));
}

}  // namespace
}  // namespace shardserve
