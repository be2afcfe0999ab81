// The scheduler against a fake model: the "next token" is a function of the last token and
// its position, so outputs are known and recomputation after preemption must reproduce
// them. Every plan is also applied to a real KvCache with the same number of blocks, which
// must never run out (the scheduler's accounting matches the caches').
#include "worker/scheduler.h"

#include <gtest/gtest.h>

#include <cmath>
#include <map>

#include "model/kv_cache/kv_cache.h"

namespace shardserve {
namespace {

constexpr int64_t kVocab = 32;

TokenId fake_next(TokenId last, int64_t pos) {
  return static_cast<TokenId>((last * 31 + pos * 7 + 3) % kVocab);
}

// The K/V a position holds in the fake model: a hash of the whole context up to it.
uint64_t context_hash(uint64_t before, TokenId token) {
  return (before ^ static_cast<uint64_t>(token + 1)) * 0x9E3779B97F4A7C15ull + 1;
}

using NextToken = TokenId (*)(TokenId last, int64_t pos);

struct Harness {
  explicit Harness(SchedulerLimits limits, NextToken model = fake_next)
      : next(model),
        scheduler(limits),
        kv(KvCacheShape{.n_layers = 1,
                        .n_kv_heads = 1,
                        .head_dim = 4,
                        .block_size = limits.block_size,
                        .n_blocks = limits.kv_blocks}),
        slots(static_cast<size_t>(limits.kv_blocks * limits.block_size), 0) {}

  Status submit(const SequenceRequest& r) {
    Status s = scheduler.submit(r);
    if (s) requests[r.id] = r;
    return s;
  }

  // The fake model's K/V of the sequence's context at positions [0, n).
  std::vector<uint64_t> expected_kv(int64_t seq, int64_t n) {
    const SequenceRequest& r = requests.at(seq);
    std::vector<TokenId> context = r.prompt;
    context.insert(context.end(), r.resume_tokens.begin(), r.resume_tokens.end());
    if (auto it = outputs.find(seq); it != outputs.end())
      context.insert(context.end(), it->second.begin(), it->second.end());
    std::vector<uint64_t> kv_values;
    uint64_t h = 0;
    for (int64_t p = 0; p < n && p < static_cast<int64_t>(context.size()); ++p)
      kv_values.push_back(h = context_hash(h, context[p]));
    return kv_values;
  }

  uint64_t& slot(int64_t seq, int64_t pos) {
    const auto& table = kv.block_table(seq);
    const int64_t bs = kv.shape().block_size;
    return slots[static_cast<size_t>(table[pos / bs] * bs + pos % bs)];
  }

  // Runs one step; returns its events. Applies the plan to a real KvCache as a rank does, and
  // checks that every position a chunk builds on holds its own context's K/V (written by it, or
  // by whoever computed a prefix it shares).
  std::vector<TokenEvent> step() {
    StepPlan plan = scheduler.next_plan();
    plans.push_back(plan);
    for (int64_t id : plan.released) kv.release(id);
    std::vector<float> logits;
    for (const PlannedChunk& c : plan.chunks) {
      EXPECT_TRUE(kv.attach(c.seq, c.blocks).ok());
      const auto n = static_cast<int64_t>(c.tokens.size());
      EXPECT_GE(kv.capacity(c.seq), c.start_pos + n) << "step " << plan.step_id << " seq " << c.seq;
      if (kv.capacity(c.seq) < c.start_pos + n) continue;
      if (requests.count(c.seq)) {
        const std::vector<uint64_t> want = expected_kv(c.seq, c.start_pos);
        for (int64_t p = 0; p < c.start_pos; ++p)
          EXPECT_EQ(slot(c.seq, p), want[p]) << "seq " << c.seq << " reads a wrong K/V at " << p;
        // The chunk's tokens (drafts included, right or wrong) build on what is before them.
        uint64_t h = c.start_pos > 0 ? want[c.start_pos - 1] : 0;
        for (int64_t i = 0; i < n; ++i)
          slot(c.seq, c.start_pos + i) = h = context_hash(h, c.tokens[i]);
      }
      tokens_in_plans += n;
      if (c.all_logits) scored_rows[plan.step_id] += n;
      const int64_t rows = c.all_logits ? n : c.need_logits ? 1 : 0;
      for (int64_t i = n - rows; i < n; ++i) {
        std::vector<float> row(kVocab, 0.0f);
        row[next(c.tokens[i], c.start_pos + i)] = 10.0f;
        logits.insert(logits.end(), row.begin(), row.end());
      }
    }
    auto events = scheduler.on_step_done(plan, logits);
    for (const auto& e : events) {
      EXPECT_TRUE(e.prompt_scores.empty() || !outputs.count(e.id)) << "scores after a token";
      for (const ScoredToken& t : e.prompt_scores) scores[e.id].push_back(t);
      if (e.token >= 0) outputs[e.id].push_back(e.token);
      if (e.finish != FinishReason::None) finish[e.id] = e.finish;
      cached[e.id] = e.cached_tokens;
    }
    return events;
  }
  void run(int max_steps = 1000) {
    for (int i = 0; i < max_steps && scheduler.has_work(); ++i) step();
    EXPECT_FALSE(scheduler.has_work());
  }

  NextToken next;
  Scheduler scheduler;
  KvCache kv;
  std::vector<uint64_t> slots;  // the fake K/V of every position of every block
  std::map<int64_t, SequenceRequest> requests;
  std::vector<StepPlan> plans;
  std::map<int64_t, std::vector<TokenId>> outputs;
  std::map<int64_t, FinishReason> finish;
  std::map<int64_t, int64_t> cached;                   // cached_tokens of the last event
  std::map<int64_t, std::vector<ScoredToken>> scores;  // prompt scores, in arrival order
  std::map<uint64_t, int64_t> scored_rows;             // all_logits rows per step
  int64_t tokens_in_plans = 0;
};

SchedulerLimits roomy() {
  return {.max_batch = 8,
          .max_batch_tokens = 64,
          .kv_blocks = 64,
          .block_size = 4,
          .context_length = 128,
          .n_vocab = kVocab};
}

// 10 blocks of 4 positions: three sequences of 5 + 20 positions (7 blocks each) preempt each
// other.
SchedulerLimits tight() {
  return {.max_batch = 8,
          .max_batch_tokens = 32,
          .kv_blocks = 10,
          .block_size = 4,
          .context_length = 64,
          .n_vocab = kVocab};
}

SequenceRequest request(int64_t id, int n_prompt, int64_t max_tokens) {
  SequenceRequest r{
      .id = id, .prompt = {}, .sampling = {.temperature = 0}, .max_tokens = max_tokens};
  for (int i = 0; i < n_prompt; ++i)
    r.prompt.push_back(static_cast<TokenId>((id * 5 + i) % kVocab));
  return r;
}

// What a sequence generates alone: the fake model's chain from the prompt's last token.
std::vector<TokenId> expected_output(const SequenceRequest& r, int64_t n) {
  std::vector<TokenId> out;
  TokenId last = r.prompt.back();
  int64_t pos = static_cast<int64_t>(r.prompt.size()) - 1;
  for (int64_t i = 0; i < n; ++i) out.push_back(last = fake_next(last, pos++));
  return out;
}

TEST(Scheduler, OneSequencePrefillsThenDecodesThenReleases) {
  Harness h(roomy());
  ASSERT_TRUE(h.submit(request(1, 5, 3)).ok());
  h.run();
  EXPECT_EQ(h.outputs[1], expected_output(request(1, 5, 3), 3));
  EXPECT_EQ(h.finish[1], FinishReason::Length);
  ASSERT_GE(h.plans.size(), 3u);
  EXPECT_EQ(h.plans[0].chunks[0].tokens.size(), 5u);  // whole prompt in one chunk
  EXPECT_EQ(h.plans[1].chunks[0].tokens.size(), 1u);  // then one token per step
  EXPECT_EQ(h.scheduler.used_blocks(), 0);
  h.scheduler.next_plan();  // the release reaches the caches with the next plan
}

TEST(Scheduler, ChunkedPrefillLetsRunningSequencesDecodeEveryStep) {
  SchedulerLimits limits = roomy();
  limits.max_batch_tokens = 4;
  Harness h(limits);
  ASSERT_TRUE(h.submit(request(1, 2, 20)).ok());
  h.step();  // seq 1 prefilled
  ASSERT_TRUE(h.submit(request(2, 10, 2)).ok());
  for (int i = 0; i < 3; ++i) {
    h.step();
    const StepPlan& p = h.plans.back();
    ASSERT_GE(p.chunks.size(), 1u);
    EXPECT_EQ(p.chunks[0].seq, 1) << "the decode token comes first";
    EXPECT_EQ(p.chunks[0].tokens.size(), 1u);
    int64_t total = 0;
    for (const auto& c : p.chunks) total += static_cast<int64_t>(c.tokens.size());
    EXPECT_LE(total, 4);
  }
  h.run();
  EXPECT_EQ(h.outputs[1], expected_output(request(1, 2, 20), 20));
  EXPECT_EQ(h.outputs[2], expected_output(request(2, 10, 2), 2));
}

TEST(Scheduler, StepsThatDecodeCarryFewerPromptTokens) {
  SchedulerLimits limits = roomy();
  limits.max_batch_tokens = 16;
  limits.max_prefill_tokens_while_decoding = 3;
  Harness h(limits);
  ASSERT_TRUE(h.submit(request(1, 12, 6)).ok());
  h.step();  // nothing decodes yet: the whole 12-token prompt in one step
  EXPECT_EQ(h.plans.back().chunks.at(0).tokens.size(), 12u);
  ASSERT_TRUE(h.submit(request(2, 10, 2)).ok());
  h.step();  // seq 1 decodes, seq 2 gets 3 prompt tokens
  ASSERT_EQ(h.plans.back().chunks.size(), 2u);
  EXPECT_EQ(h.plans.back().chunks[1].seq, 2);
  EXPECT_EQ(h.plans.back().chunks[1].tokens.size(), 3u);
  h.run();
  EXPECT_EQ(h.outputs[1], expected_output(request(1, 12, 6), 6));
  EXPECT_EQ(h.outputs[2], expected_output(request(2, 10, 2), 2));
  // Once seq 1 finished, seq 2's rest of the prompt went in bigger chunks again.
  for (const StepPlan& p : h.plans) {
    int64_t decodes = 0, prompt = 0;
    for (const PlannedChunk& c : p.chunks) {
      const bool decode = c.tokens.size() == 1 && c.need_logits;
      (decode ? decodes : prompt) += static_cast<int64_t>(c.tokens.size());
    }
    if (decodes > 0) {
      EXPECT_LE(prompt, 3) << "step " << p.step_id;
    }
  }
}

TEST(Scheduler, MaxBatchMakesLaterRequestsWait) {
  SchedulerLimits limits = roomy();
  limits.max_batch = 2;
  Harness h(limits);
  for (int id = 1; id <= 3; ++id) ASSERT_TRUE(h.submit(request(id, 3, 4)).ok());
  h.step();
  EXPECT_EQ(h.scheduler.running(), 2);
  EXPECT_EQ(h.scheduler.waiting(), 1);
  h.run();
  for (int id = 1; id <= 3; ++id) EXPECT_EQ(h.outputs[id], expected_output(request(id, 3, 4), 4));
}

TEST(Scheduler, PreemptedSequencesRecomputeToTheSameOutput) {
  Harness h(tight());
  for (int id = 1; id <= 3; ++id) ASSERT_TRUE(h.submit(request(id, 5, 20)).ok());
  h.run();
  for (int id = 1; id <= 3; ++id) {
    EXPECT_EQ(h.outputs[id], expected_output(request(id, 5, 20), 20)) << "seq " << id;
    EXPECT_EQ(h.finish[id], FinishReason::Length);
  }
  // Recomputation happened: more tokens went through the model than 3 x (5 + 19).
  EXPECT_GT(h.tokens_in_plans, 3 * (5 + 19));
}

// Failover: a request resumed after some of its tokens continues with exactly the tokens the
// uninterrupted run produced next, sampled and penalized, at any split.
TEST(Scheduler, AResumedSequenceContinuesWithTheTokensItWouldHaveProduced) {
  SequenceRequest r = request(1, 6, 24);
  r.sampling.temperature = 1.0f;
  r.sampling.seed = 77;
  r.sampling.frequency_penalty = 0.5f;
  r.sampling.repetition_penalty = 1.3f;
  Harness whole(roomy());
  ASSERT_TRUE(whole.submit(r).ok());
  whole.run();
  const std::vector<TokenId> full = whole.outputs[1];
  ASSERT_EQ(full.size(), 24u);
  for (size_t split : {1u, 5u, 13u, 23u}) {
    SequenceRequest resumed = r;
    resumed.resume_tokens.assign(full.begin(), full.begin() + static_cast<std::ptrdiff_t>(split));
    Harness h(roomy());
    ASSERT_TRUE(h.submit(resumed).ok());
    h.run();
    EXPECT_EQ(h.outputs[1],
              std::vector<TokenId>(full.begin() + static_cast<std::ptrdiff_t>(split), full.end()))
        << "split " << split;
    EXPECT_EQ(h.finish[1], FinishReason::Length);
  }
}

TEST(Scheduler, RefusesAResumeWithNoRoomLeft) {
  SequenceRequest r = request(1, 6, 3);
  r.resume_tokens = {1, 2, 3};
  Scheduler s(roomy());
  EXPECT_EQ(s.submit(r).code(), ErrorCode::kInvalidInput);
  r.max_tokens = 5;
  r.resume_tokens = {1, 2, kVocab};
  EXPECT_EQ(s.submit(r).code(), ErrorCode::kInvalidInput);
  r.resume_tokens = {1, 2, 3};
  EXPECT_TRUE(s.submit(r).ok());
}

// Every prompt position after the first scored once, in order, against the fake model's row
// (its peak is at fake_next of the token before), whatever the chunking.
void expect_prompt_scores(const std::vector<ScoredToken>& got, const SequenceRequest& r) {
  ASSERT_EQ(got.size(), r.prompt.size() - 1);
  const double peak = -std::log1p((kVocab - 1) * std::exp(-10.0));
  const double other = -10.0 + peak;
  for (size_t p = 1; p < r.prompt.size(); ++p) {
    const ScoredToken& t = got[p - 1];
    const TokenId predicted = fake_next(r.prompt[p - 1], static_cast<int64_t>(p) - 1);
    EXPECT_EQ(t.token, r.prompt[p]) << "position " << p;
    EXPECT_NEAR(t.logprob, t.token == predicted ? peak : other, 1e-4) << "position " << p;
    ASSERT_EQ(t.top.size(), static_cast<size_t>(r.sampling.top_logprobs));
    if (!t.top.empty()) {
      EXPECT_EQ(t.top[0].token, predicted);
    }
  }
}

TEST(Scheduler, ScoresEveryPromptTokenOnceThenGenerates) {
  SchedulerLimits limits = roomy();
  limits.max_batch_tokens = 512;
  limits.kv_blocks = 256;
  limits.context_length = 1024;
  Harness h(limits);
  SequenceRequest a = request(1, 700, 3);  // more than one step's share of scored rows
  a.score_prompt = true;
  a.sampling.top_logprobs = 2;
  SequenceRequest b = request(2, 40, 3);  // an unscored neighbour
  ASSERT_TRUE(h.submit(a).ok());
  ASSERT_TRUE(h.submit(b).ok());
  h.run();
  expect_prompt_scores(h.scores[1], a);
  EXPECT_TRUE(h.scores[2].empty());
  EXPECT_EQ(h.outputs[1], expected_output(a, 3));
  EXPECT_EQ(h.outputs[2], expected_output(b, 3));
  for (auto [step, rows] : h.scored_rows) EXPECT_LE(rows, Scheduler::kMaxScoredRowsPerStep);
}

TEST(Scheduler, MaxTokensZeroOnlyScoresThePrompt) {
  Harness h(roomy());
  SequenceRequest r = request(1, 9, 0);
  r.score_prompt = true;
  ASSERT_TRUE(h.submit(r).ok());
  h.run();
  expect_prompt_scores(h.scores[1], r);
  EXPECT_TRUE(h.outputs[1].empty());
  EXPECT_EQ(h.finish[1], FinishReason::Length);
}

TEST(Scheduler, PreemptionDoesNotRepeatPromptScores) {
  Harness h(tight());
  std::vector<SequenceRequest> requests;
  for (int id = 1; id <= 3; ++id) {
    requests.push_back(request(id, 9, 16));
    requests.back().score_prompt = true;
    requests.back().sampling.top_logprobs = 1;
    ASSERT_TRUE(h.submit(requests.back()).ok());
  }
  h.run();
  EXPECT_GT(h.tokens_in_plans, 3 * (9 + 15));  // recomputation happened
  for (const SequenceRequest& r : requests) {
    expect_prompt_scores(h.scores[r.id], r);
    EXPECT_EQ(h.outputs[r.id], expected_output(r, 16));
  }
}

TEST(Scheduler, StopTokenFinishesWithStop) {
  Harness h(roomy());
  SequenceRequest r = request(1, 4, 50);
  const auto chain = expected_output(r, 10);
  r.stop_tokens = {chain[3]};
  ASSERT_TRUE(h.submit(r).ok());
  h.run();
  EXPECT_EQ(h.finish[1], FinishReason::Stop);
  // Stops at the first occurrence of the stop token.
  auto first = std::find(chain.begin(), chain.end(), chain[3]) - chain.begin();
  EXPECT_EQ(h.outputs[1].size(), static_cast<size_t>(first + 1));
}

TEST(Scheduler, CancelWaitingAndRunningSequences) {
  SchedulerLimits limits = roomy();
  limits.max_batch = 1;
  Harness h(limits);
  ASSERT_TRUE(h.submit(request(1, 3, 100)).ok());
  ASSERT_TRUE(h.submit(request(2, 3, 100)).ok());
  h.step();
  h.step();
  h.scheduler.cancel(2);   // waiting
  h.scheduler.cancel(1);   // running
  h.scheduler.cancel(99);  // unknown: ignored
  h.step();
  EXPECT_EQ(h.finish[1], FinishReason::Cancelled);
  EXPECT_EQ(h.finish[2], FinishReason::Cancelled);
  EXPECT_FALSE(h.scheduler.has_work());
  EXPECT_EQ(h.scheduler.used_blocks(), 0);
  EXPECT_FALSE(h.kv.contains(1));
  EXPECT_FALSE(h.kv.contains(2));
}

TEST(Scheduler, ContextLimitFinishesWithLength) {
  SchedulerLimits limits = roomy();
  limits.context_length = 12;
  Harness h(limits);
  ASSERT_TRUE(h.submit(request(1, 8, 100)).ok());
  h.run();
  EXPECT_EQ(h.outputs[1].size(), 4u);  // positions 8..11
  EXPECT_EQ(h.finish[1], FinishReason::Length);
}

TEST(Scheduler, RejectsRequestsThatCanNeverRun) {
  SchedulerLimits limits = roomy();
  limits.context_length = 10;
  Scheduler s(limits);
  EXPECT_FALSE(s.submit(request(1, 0, 5)).ok());
  Status too_long = s.submit(request(2, 10, 5));
  ASSERT_FALSE(too_long.ok());
  EXPECT_NE(too_long.message().find("context holds 10"), std::string::npos) << too_long.message();
  EXPECT_EQ(too_long.code(), ErrorCode::kInvalidInput);
  ASSERT_TRUE(s.submit(request(3, 2, 5)).ok());
  EXPECT_FALSE(s.submit(request(3, 2, 5)).ok()) << "duplicate id";
}

// The worker's one safety net behind the coordinator's door: every token id a request names
// must be in the vocabulary, whichever field names it.
TEST(Scheduler, RejectsTokenIdsOutsideTheVocabulary) {
  Scheduler s(roomy());
  SequenceRequest bad_prompt = request(1, 3, 5);
  bad_prompt.prompt[1] = kVocab;
  SequenceRequest bad_stop = request(2, 3, 5);
  bad_stop.stop_tokens = {-1};
  SequenceRequest bad_bias = request(3, 3, 5);
  bad_bias.sampling.logit_bias = {{5, 1.0f}, {kVocab + 7, -100.0f}};
  const std::pair<SequenceRequest, std::string> cases[] = {
      {bad_prompt, "prompt token id " + std::to_string(kVocab)},
      {bad_stop, "stop token id -1"},
      {bad_bias, "logit_bias token id " + std::to_string(kVocab + 7)}};
  for (const auto& [r, what] : cases) {
    Status st = s.submit(r);
    ASSERT_FALSE(st.ok()) << what;
    EXPECT_EQ(st.message().rfind(what, 0), 0u) << st.message();
    EXPECT_EQ(st.code(), ErrorCode::kInvalidInput);
  }
  EXPECT_FALSE(s.has_work());
}

}  // namespace
}  // namespace shardserve

namespace shardserve {
namespace {

// A request whose prompt is `shared` followed by `own` tokens of its id.
SequenceRequest with_prefix(int64_t id, const std::vector<TokenId>& shared, int n_own,
                            int64_t max_tokens) {
  SequenceRequest r = request(id, n_own, max_tokens);
  r.prompt.insert(r.prompt.begin(), shared.begin(), shared.end());
  return r;
}

std::vector<TokenId> tokens(int n, int seed) {
  std::vector<TokenId> t;
  for (int i = 0; i < n; ++i) t.push_back(static_cast<TokenId>((seed * 13 + i * 3) % kVocab));
  return t;
}

TEST(SchedulerPrefixCache, ALaterSequenceReusesTheFullBlocksItSharesWithAnEarlierOne) {
  Harness h(roomy());  // blocks of 4 positions
  const std::vector<TokenId> shared = tokens(10, 1);
  ASSERT_TRUE(h.submit(with_prefix(1, shared, 3, 4)).ok());
  h.run();
  EXPECT_EQ(h.cached[1], 0);
  ASSERT_TRUE(h.submit(with_prefix(2, shared, 5, 4)).ok());
  h.step();
  // Two full blocks (8 positions) of the 10 shared tokens come from the cache.
  EXPECT_EQ(h.cached[2], 8);
  const PlannedChunk& first = h.plans.back().chunks.at(0);
  EXPECT_EQ(first.seq, 2);
  EXPECT_EQ(first.start_pos, 8);
  EXPECT_EQ(first.tokens.size(), 15u - 8u);
  h.run();
  EXPECT_EQ(h.outputs[2], expected_output(h.requests[2], 4));
  const PrefixCacheStats stats = h.scheduler.prefix_cache_stats();
  EXPECT_EQ(stats.prompt_tokens, 13 + 15);
  EXPECT_EQ(stats.hit_tokens, 8);
  EXPECT_GE(stats.cached_blocks, 2);
}

TEST(SchedulerPrefixCache, GeneratedTokensArePublishedForTheNextTurn) {
  Harness h(roomy());
  const SequenceRequest first = request(1, 6, 10);
  ASSERT_TRUE(h.submit(first).ok());
  h.run();
  // The next turn: the prompt, the answer, and more.
  std::vector<TokenId> next = first.prompt;
  next.insert(next.end(), h.outputs[1].begin(), h.outputs[1].end());
  ASSERT_TRUE(h.submit(with_prefix(2, next, 3, 2)).ok());
  h.run();
  // 6 + 10 positions, of which the last token's K/V was never computed: 3 full blocks.
  EXPECT_EQ(h.cached[2], 12);
  EXPECT_EQ(h.outputs[2], expected_output(h.requests[2], 2));
}

TEST(SchedulerPrefixCache, AFullyCachedPromptStillComputesItsLastToken) {
  Harness h(roomy());
  const SequenceRequest r = request(1, 8, 2);  // exactly two blocks
  ASSERT_TRUE(h.submit(r).ok());
  h.run();
  SequenceRequest again = r;
  again.id = 2;
  ASSERT_TRUE(h.submit(again).ok());
  h.step();
  EXPECT_EQ(h.cached[2], 4);
  EXPECT_EQ(h.plans.back().chunks.at(0).start_pos, 4);
  h.run();
  EXPECT_EQ(h.outputs[2], h.outputs[1]);
}

TEST(SchedulerPrefixCache, RunningSequencesShareBlocksAndKeepThemWhileOneHoldsThem) {
  Harness h(roomy());
  const std::vector<TokenId> shared = tokens(12, 2);
  ASSERT_TRUE(h.submit(with_prefix(1, shared, 1, 30)).ok());
  h.step();  // seq 1 prefilled: its 3 full blocks are published
  ASSERT_TRUE(h.submit(with_prefix(2, shared, 2, 5)).ok());
  ASSERT_TRUE(h.submit(with_prefix(3, shared, 3, 5)).ok());
  h.step();
  EXPECT_EQ(h.cached[2], 12);
  EXPECT_EQ(h.cached[3], 12);
  // The three tables start with the same three blocks.
  const auto& t1 = h.kv.block_table(1);
  for (int64_t id : {2, 3}) {
    const auto& t = h.kv.block_table(id);
    ASSERT_GE(t.size(), 3u);
    EXPECT_TRUE(std::equal(t1.begin(), t1.begin() + 3, t.begin())) << id;
  }
  h.run();  // 2 and 3 finish first; 1 keeps reading the shared blocks (checked every step)
  for (int64_t id : {1, 2, 3})
    EXPECT_EQ(h.outputs[id], expected_output(h.requests[id], id == 1 ? 30 : 5));
}

TEST(SchedulerPrefixCache, SaltsKeepTenantsApart) {
  Harness h(roomy());
  SequenceRequest a = request(1, 9, 2);
  a.cache_salt = 111;
  ASSERT_TRUE(h.submit(a).ok());
  h.run();
  SequenceRequest b = a;
  b.id = 2;
  b.cache_salt = 222;
  ASSERT_TRUE(h.submit(b).ok());
  SequenceRequest c = a;
  c.id = 3;  // same salt as a
  ASSERT_TRUE(h.submit(c).ok());
  h.run();
  EXPECT_EQ(h.cached[2], 0);
  EXPECT_EQ(h.cached[3], 8);
}

TEST(SchedulerPrefixCache, OffMeansNoReuse) {
  SchedulerLimits limits = roomy();
  limits.prefix_caching = false;
  Harness h(limits);
  const SequenceRequest r = request(1, 9, 2);
  ASSERT_TRUE(h.submit(r).ok());
  h.run();
  SequenceRequest again = r;
  again.id = 2;
  ASSERT_TRUE(h.submit(again).ok());
  h.run();
  EXPECT_EQ(h.cached[2], 0);
  EXPECT_EQ(h.scheduler.prefix_cache_stats().cached_blocks, 0);
}

TEST(SchedulerPrefixCache, ScoringAPromptComputesAllOfIt) {
  Harness h(roomy());
  const SequenceRequest r = request(1, 9, 2);
  ASSERT_TRUE(h.submit(r).ok());
  h.run();
  SequenceRequest scored = r;
  scored.id = 2;
  scored.score_prompt = true;
  ASSERT_TRUE(h.submit(scored).ok());
  h.run();
  EXPECT_EQ(h.cached[2], 0);
  expect_prompt_scores(h.scores[2], scored);
}

TEST(SchedulerPrefixCache, CachedBlocksAreEvictedWhenTheSpaceIsNeeded) {
  SchedulerLimits limits = roomy();
  limits.kv_blocks = 8;  // 32 positions
  Harness h(limits);
  const SequenceRequest first = request(1, 9, 2);
  ASSERT_TRUE(h.submit(first).ok());
  h.run();
  EXPECT_EQ(h.scheduler.prefix_cache_stats().cached_blocks, 2);
  // Others fill the cache: the first prompt's free blocks are reused.
  for (int id = 2; id <= 4; ++id) ASSERT_TRUE(h.submit(request(id, 20, 4)).ok());
  h.run();
  EXPECT_GT(h.scheduler.prefix_cache_stats().evictions, 0);
  SequenceRequest again = first;
  again.id = 5;
  ASSERT_TRUE(h.submit(again).ok());
  h.run();
  EXPECT_LT(h.cached[5], 8);
  EXPECT_EQ(h.outputs[5], h.outputs[1]);
}

TEST(SchedulerPrefixCache, PreemptedSequencesComeBackThroughTheirOwnCachedBlocks) {
  Harness h(tight());
  for (int id = 1; id <= 3; ++id) ASSERT_TRUE(h.submit(request(id, 5, 20)).ok());
  h.run();  // every read of a cached block is checked against the sequence's own context
  for (int id = 1; id <= 3; ++id)
    EXPECT_EQ(h.outputs[id], expected_output(h.requests[id], 20)) << "seq " << id;
}

}  // namespace
}  // namespace shardserve

namespace shardserve {
namespace {

// A model whose text repeats: what prompt lookup predicts well.
TokenId cycle_next(TokenId last, int64_t) {
  return static_cast<TokenId>((last + 1) % 8);
}

SchedulerLimits speculating() {
  SchedulerLimits limits = roomy();
  limits.spec_max_draft = 4;
  limits.spec_max_batch = 4;
  return limits;
}

// Runs `requests` to the end and returns every sequence's tokens.
std::map<int64_t, std::vector<TokenId>> outputs_of(const SchedulerLimits& limits, NextToken model,
                                                   const std::vector<SequenceRequest>& requests,
                                                   SpecStats* stats = nullptr,
                                                   int64_t* steps = nullptr) {
  Harness h(limits, model);
  for (const auto& r : requests) EXPECT_TRUE(h.submit(r).ok());
  h.run();
  if (stats) *stats = h.scheduler.spec_stats();
  if (steps) *steps = static_cast<int64_t>(h.plans.size());
  return h.outputs;
}

TEST(SchedulerSpeculation, GivesExactlyTheTokensOfPlainDecodingGreedyOrSeeded) {
  std::vector<SequenceRequest> requests;
  for (int id = 1; id <= 3; ++id) {
    SequenceRequest r = request(id, 12, 40);
    if (id > 1) {  // sampled: the peak usually, sometimes another token
      r.sampling.temperature = 1.0f;
      r.sampling.seed = 1000 + id;
    }
    requests.push_back(r);
  }
  SchedulerLimits off = speculating();
  off.spec_max_draft = 0;
  for (NextToken model : {cycle_next, fake_next}) {
    SpecStats stats;
    const auto plain = outputs_of(off, model, requests);
    const auto fast = outputs_of(speculating(), model, requests, &stats);
    EXPECT_EQ(fast, plain);
    if (model == cycle_next) {
      EXPECT_GT(stats.accepted, 0);
    }
  }
}

TEST(SchedulerSpeculation, AcceptedDraftsSaveSteps) {
  const std::vector<SequenceRequest> one = {request(1, 10, 60)};
  SchedulerLimits off = speculating();
  off.spec_max_draft = 0;
  int64_t plain_steps = 0, fast_steps = 0;
  SpecStats stats;
  outputs_of(off, cycle_next, one, nullptr, &plain_steps);
  const auto out = outputs_of(speculating(), cycle_next, one, &stats, &fast_steps);
  EXPECT_EQ(out.at(1).size(), 60u);
  EXPECT_LT(fast_steps * 2, plain_steps);
  EXPECT_GT(stats.accepted * 10, stats.proposed * 9);  // the cycle is predicted
}

TEST(SchedulerSpeculation, RejectedDraftsPause) {
  // fake_next depends on the position: the last two tokens recur but rarely predict the next.
  const std::vector<SequenceRequest> one = {request(1, 30, 200)};
  SpecStats stats;
  outputs_of(speculating(), fake_next, one, &stats);
  EXPECT_LT(stats.proposed, 200);  // far from 4 drafts on every one of 200 steps
}

TEST(SchedulerSpeculation, StopsAndMaxTokensCutADraftExactly) {
  SequenceRequest stop = request(1, 10, 50);
  stop.stop_tokens = {5};
  const SequenceRequest length = request(2, 10, 13);
  SchedulerLimits off = speculating();
  off.spec_max_draft = 0;
  EXPECT_EQ(outputs_of(speculating(), cycle_next, {stop, length}),
            outputs_of(off, cycle_next, {stop, length}));
  Harness h(speculating(), cycle_next);
  ASSERT_TRUE(h.submit(stop).ok());
  ASSERT_TRUE(h.submit(length).ok());
  h.run();
  EXPECT_EQ(h.outputs[1].back(), 5);
  EXPECT_EQ(h.finish[1], FinishReason::Stop);
  EXPECT_EQ(h.outputs[2].size(), 13u);
}

TEST(SchedulerSpeculation, ManyStreamsDoNotSpeculate) {
  std::vector<SequenceRequest> many;
  for (int id = 1; id <= 6; ++id) many.push_back(request(id, 10, 30));
  SpecStats stats;
  outputs_of(speculating(), cycle_next, many, &stats);
  // Drafts only once the batch is down to spec_max_batch (4) sequences... which it never is
  // before they all finish together.
  EXPECT_EQ(stats.proposed, 0);
}

}  // namespace
}  // namespace shardserve
