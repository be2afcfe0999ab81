#include "model/sampler/sampler.h"

#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <numeric>
#include <random>
#include <set>
#include <span>

namespace shardserve {
namespace {

const std::vector<float> kLogits = {1.0f, 3.0f, 2.0f, 0.5f, 2.9f};

// Stand-ins for the tokens generated so far, one more per call: draws are keyed by position,
// so repeated samples must move along a sequence to differ (no test using it has penalties).
class Positions {
 public:
  std::span<const TokenId> next() {
    generated_.push_back(0);
    return std::span<const TokenId>(generated_).first(generated_.size() - 1);
  }

 private:
  std::vector<TokenId> generated_;
};

Sample sample_once(SamplingParams p, std::vector<TokenId> generated = {},
                   std::vector<float> logits = kLogits) {
  Sampler s(std::move(p));
  return s.sample(logits, {}, generated);
}

TEST(Sampler, GreedyTakesTheArgmax) {
  EXPECT_EQ(sample_once({.temperature = 0}).token, 1);
}

TEST(Sampler, LogitBiasChangesAndForbidsTokens) {
  EXPECT_EQ(sample_once({.temperature = 0, .logit_bias = {{3, 10.0f}}}).token, 3);
  SamplingParams p{.temperature = 1.0f, .logit_bias = {{1, -INFINITY}, {4, -INFINITY}}};
  Sampler s(p);
  Positions pos;
  for (int i = 0; i < 200; ++i) {
    TokenId t = s.sample(kLogits, {}, pos.next()).token;
    EXPECT_NE(t, 1);
    EXPECT_NE(t, 4);
  }
}

TEST(Sampler, PresenceAndFrequencyPenaltiesUseGeneratedCounts) {
  // Token 1 generated twice: 3.0 - 0.5 - 2 * 0.1 = 2.3 < 2.9 (token 4 wins).
  auto s =
      sample_once({.temperature = 0, .presence_penalty = 0.5f, .frequency_penalty = 0.1f}, {1, 1});
  EXPECT_EQ(s.token, 4);
  // Without the second occurrence: 3.0 - 0.5 - 0.1 = 2.4, still below 2.9.
  EXPECT_EQ(sample_once({.temperature = 0, .presence_penalty = 0.05f}, {1}).token, 1);
}

TEST(Sampler, RepetitionPenaltyDividesPositiveLogits) {
  // 3.0 / 1.1 = 2.73 < 2.9
  EXPECT_EQ(sample_once({.temperature = 0, .repetition_penalty = 1.1f}, {1}).token, 4);
}

TEST(Sampler, TopKOneIsGreedy) {
  Sampler s({.temperature = 1.5f, .top_k = 1, .seed = 9});
  for (int i = 0; i < 50; ++i) EXPECT_EQ(s.sample(kLogits, {}, {}).token, 1);
}

TEST(Sampler, SameSeedSameTokensDifferentSeedDifferentTokens) {
  auto run = [](uint64_t seed) {
    Sampler s({.temperature = 1.0f, .seed = seed});
    Positions pos;
    std::vector<TokenId> out;
    for (int i = 0; i < 64; ++i) out.push_back(s.sample(kLogits, {}, pos.next()).token);
    return out;
  };
  EXPECT_EQ(run(42), run(42));
  EXPECT_NE(run(42), run(43));
}

TEST(Sampler, DrawsAreKeyedBySeedAndPositionOnly) {
  // The same position gives the same draw whatever came before (a step of one token or of
  // several, a resumed sequence); positions and seeds give independent draws.
  EXPECT_EQ(Sampler::uniform(7, 100, 0), Sampler::uniform(7, 100, 0));
  EXPECT_NE(Sampler::uniform(7, 100, 0), Sampler::uniform(7, 101, 0));
  EXPECT_NE(Sampler::uniform(7, 100, 0), Sampler::uniform(8, 100, 0));
  EXPECT_NE(Sampler::uniform(7, 100, 0), Sampler::uniform(7, 100, 1));
  const std::vector<TokenId> history(40, 0);
  Sampler along({.temperature = 1.0f, .seed = 5});
  std::vector<TokenId> tokens;
  for (size_t n = 0; n < history.size(); ++n)
    tokens.push_back(along.sample(kLogits, {}, std::span(history).first(n)).token);
  for (size_t n : {0u, 17u, 39u}) {
    Sampler fresh({.temperature = 1.0f, .seed = 5});
    EXPECT_EQ(fresh.sample(kLogits, {}, std::span(history).first(n)).token, tokens[n]) << n;
  }
  double sum = 0;
  for (uint64_t p = 0; p < 10000; ++p) {
    const double u = Sampler::uniform(3, p, 0);
    ASSERT_GE(u, 0.0);
    ASSERT_LT(u, 1.0);
    sum += u;
  }
  EXPECT_NEAR(sum / 10000, 0.5, 0.01);
}

TEST(Sampler, DrawsFollowTheSoftmax) {
  Sampler s({.temperature = 1.0f, .seed = 1});
  std::map<TokenId, int> counts;
  const int n = 20000;
  Positions pos;
  for (int i = 0; i < n; ++i) ++counts[s.sample(kLogits, {}, pos.next()).token];
  double z = 0;
  for (float l : kLogits) z += std::exp(l);
  for (size_t t = 0; t < kLogits.size(); ++t) {
    double expected = std::exp(kLogits[t]) / z;
    EXPECT_NEAR(counts[static_cast<TokenId>(t)] / double(n), expected, 0.015) << "token " << t;
  }
}

TEST(Sampler, TopPAndMinPCutTheTail) {
  // Probabilities ~ [0.04, 0.39, 0.14, 0.02, 0.35]: top_p 0.5 keeps tokens 1 and 4.
  Sampler top_p({.temperature = 1.0f, .top_p = 0.5f, .seed = 3});
  Sampler min_p({.temperature = 1.0f, .min_p = 0.5f, .seed = 3});
  Positions pos;
  for (int i = 0; i < 300; ++i) {
    const auto at = pos.next();
    TokenId a = top_p.sample(kLogits, {}, at).token;
    EXPECT_TRUE(a == 1 || a == 4) << a;
    TokenId b = min_p.sample(kLogits, {}, at).token;  // p >= 0.5 * p_max: tokens 1, 4
    EXPECT_TRUE(b == 1 || b == 4) << b;
  }
}

TEST(Sampler, LogprobsAreTheModelsDistribution) {
  auto s = sample_once({.temperature = 0, .logit_bias = {{0, 100.0f}}, .top_logprobs = 3});
  EXPECT_EQ(s.token, 0);
  double z = 0;
  for (float l : kLogits) z += std::exp(l);
  EXPECT_NEAR(s.logprob, kLogits[0] - std::log(z), 1e-5);
  ASSERT_EQ(s.top.size(), 3u);
  EXPECT_EQ(s.top[0].token, 1);
  EXPECT_EQ(s.top[1].token, 4);
  EXPECT_EQ(s.top[2].token, 2);
  EXPECT_NEAR(s.top[0].logprob, kLogits[1] - std::log(z), 1e-5);
}

TEST(ScoreToken, MatchesAFullSortWithTiesToTheLowerId) {
  std::mt19937 rng(7);
  std::uniform_int_distribution<int> level(-40, 40);  // few distinct values: many ties
  std::vector<float> logits(5000);
  for (float& l : logits) l = static_cast<float>(level(rng)) / 8.0f;
  for (int top_n : {0, 1, 5, 20}) {
    const ScoredToken got = score_token(logits, 1234, top_n);
    double z = 0;
    for (float l : logits) z += std::exp(static_cast<double>(l));
    EXPECT_NEAR(got.logprob, logits[1234] - std::log(z), 1e-4);
    std::vector<TokenId> ids(logits.size());
    std::iota(ids.begin(), ids.end(), 0);
    std::stable_sort(ids.begin(), ids.end(),
                     [&](TokenId a, TokenId b) { return logits[a] > logits[b]; });
    ASSERT_EQ(got.top.size(), static_cast<size_t>(top_n));
    for (int k = 0; k < top_n; ++k) {
      EXPECT_EQ(got.top[k].token, ids[k]) << "rank " << k;
      EXPECT_NEAR(got.top[k].logprob, logits[ids[k]] - std::log(z), 1e-4);
    }
  }
}

TEST(Sampler, LogprobIsComputedOnlyWhenAskedFor) {
  EXPECT_EQ(sample_once({.temperature = 0}).logprob, 0.0f);
  auto s = sample_once({.temperature = 0, .logprobs = true});
  double z = 0;
  for (float l : kLogits) z += std::exp(l);
  EXPECT_NEAR(s.logprob, kLogits[1] - std::log(z), 1e-5);
  EXPECT_TRUE(s.top.empty());
}

// top-p over a realistic vocabulary keeps exactly the tokens the textbook definition keeps
// (sort everything, take the shortest prefix reaching the mass), though it sorts less. The
// logits: 40 likely tokens spread over the vocabulary, the rest a long tail.
TEST(Sampler, TopPOnALargeVocabularyKeepsTheTextbookSet) {
  std::mt19937 rng(7);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::vector<float> logits(49152);
  for (float& l : logits) l = normal(rng);
  for (int i = 0; i < 40; ++i) logits[(i * 7919) % logits.size()] = 12.0f - 0.01f * i;
  for (float top_p : {0.3f, 0.999f}) {
    std::vector<int> order(logits.size());
    std::iota(order.begin(), order.end(), 0);
    std::sort(order.begin(), order.end(), [&](int a, int b) { return logits[a] > logits[b]; });
    double total = 0, cum = 0;
    const float max = logits[order[0]];
    for (float l : logits) total += std::exp(static_cast<double>(l - max));
    std::set<TokenId> textbook;
    for (int t : order) {
      textbook.insert(t);
      cum += std::exp(static_cast<double>(logits[t] - max));
      if (cum >= top_p * total) break;
    }
    Sampler s({.temperature = 1.0f, .top_p = top_p, .seed = 11});
    std::set<TokenId> drawn;
    Positions pos;
    for (int i = 0; i < (top_p < 0.5f ? 1000 : 100); ++i)
      drawn.insert(s.sample(logits, {}, pos.next()).token);
    if (top_p < 0.5f) {
      EXPECT_EQ(drawn, textbook);  // ~12 tokens of ~8 % each: 1000 draws see every one
    } else {
      for (TokenId t : drawn) EXPECT_TRUE(textbook.count(t)) << "token " << t;
      EXPECT_GT(textbook.size(), 40u);  // the tail is kept too
    }
  }
}

}  // namespace
}  // namespace shardserve

namespace shardserve {
namespace {

// A constraint allowing a fixed set of tokens, counting the masks it was asked for.
class SetConstraint : public TokenConstraint {
 public:
  explicit SetConstraint(std::set<TokenId> ok) : ok_(std::move(ok)) {}
  bool allows(TokenId token) const override { return ok_.count(token) != 0; }
  void allowed(std::vector<uint8_t>& allowed, int64_t n_vocab) const override {
    ++masks;
    allowed.assign(n_vocab, 0);
    for (TokenId t : ok_) allowed[t] = 1;
  }
  mutable int masks = 0;

 private:
  std::set<TokenId> ok_;
};

TEST(SamplerConstraint, AnAllowedChoiceNeedsNoMask) {
  SetConstraint c({1, 2});
  Sampler s({.temperature = 0});
  EXPECT_EQ(s.sample(kLogits, {}, {}, &c).token, 1);
  EXPECT_EQ(c.masks, 0);
  EXPECT_EQ(s.masked_samples(), 0);
}

TEST(SamplerConstraint, ARejectedChoiceIsRedrawnAmongTheAllowed) {
  SetConstraint c({0, 2, 3});
  Sampler greedy({.temperature = 0});
  EXPECT_EQ(greedy.sample(kLogits, {}, {}, &c).token, 2);  // the best allowed
  EXPECT_EQ(c.masks, 1);
  EXPECT_EQ(greedy.masked_samples(), 1);
  Sampler drawn({.temperature = 1.5f, .top_k = 2, .seed = 7});
  std::set<TokenId> seen;
  Positions pos;
  for (int i = 0; i < 300; ++i) seen.insert(drawn.sample(kLogits, {}, pos.next(), &c).token);
  EXPECT_EQ(seen, (std::set<TokenId>{2, 0}));  // top-k 2 of the allowed: 2 and 0
}

TEST(SamplerConstraint, TheGrammarOverridesAForbiddingBias) {
  SetConstraint c({3});
  Sampler s({.temperature = 0.7f, .logit_bias = {{3, -INFINITY}}});
  EXPECT_EQ(s.sample(kLogits, {}, {}, &c).token, 3);
}

TEST(SamplerConstraint, NothingAllowedGivesMinusOne) {
  SetConstraint c({});
  Sampler s({.temperature = 0, .logprobs = true});
  EXPECT_EQ(s.sample(kLogits, {}, {}, &c).token, -1);
}

TEST(SamplerConstraint, LogprobsStayTheModels) {
  SetConstraint c({2});
  Sampler s({.temperature = 0, .logprobs = true});
  const Sample got = s.sample(kLogits, {}, {}, &c);
  Sampler plain({.temperature = 0, .logprobs = true, .top_logprobs = 5});
  const Sample all = plain.sample(kLogits, {}, {});
  ASSERT_EQ(got.token, 2);
  for (const TokenLogprob& t : all.top) {
    if (t.token == 2) {
      EXPECT_FLOAT_EQ(got.logprob, t.logprob);
    }
  }
}

}  // namespace
}  // namespace shardserve
