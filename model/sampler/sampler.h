// Chooses the next token from a row of logits.
//
// The chain, in llama.cpp's order: logit bias -> repetition / presence / frequency
// penalties -> top-k -> top-p -> min-p -> temperature -> draw. temperature == 0 is greedy
// (argmax after bias and penalties). The draw is counter-based: its random number is a hash of
// the request's seed and the position of the token being drawn (the number of tokens
// generated before it), never a stream advanced per call. So the same seed, parameters and
// logits give the same token at the same position however the steps were cut: whether a step
// produced one token or several (speculative decoding), or a sequence was resumed elsewhere.
// Log-probabilities, when asked for, are those of the model's own distribution (log-softmax
// of the raw logits), as OpenAI reports them. A Sampler belongs to one sequence; not
// thread-safe.
//
// A constrained sequence (a grammar from response_format or tools) passes a TokenConstraint:
// the token is sampled as usual and checked alone; only when the constraint rejects it is the
// set of allowed tokens computed and the draw repeated over it (most tokens of a structured
// answer are the model's own first choice, so the mask is the exception, not the rule).
//
// Cost per token is linear in the vocabulary (a few passes over the logits): nothing sorts
// the whole vocabulary. top-k sorts k candidates; top-p sorts a growing prefix of the most
// likely tokens until it holds the probability mass asked for; min-p and plain temperature
// sampling need no order at all (the draw walks the kept tokens by id).
#pragma once

#include <cstdint>
#include <span>
#include <utility>
#include <vector>

#include "wire/sequence.h"

namespace shardserve {

// What a constrained sequence may sample next. Implemented over a grammar matcher by the worker.
class TokenConstraint {
 public:
  virtual ~TokenConstraint() = default;
  // Whether `token` may come next (cheap: called on every sampled token).
  virtual bool allows(TokenId token) const = 0;
  // allowed[t] = 1 for every token that may come next, else 0 (resized to n_vocab).
  virtual void allowed(std::vector<uint8_t>& allowed, int64_t n_vocab) const = 0;
};

struct Sample {
  TokenId token = 0;     // -1: a constraint allowed no token at all (the sequence must stop)
  float logprob = 0.0f;  // of the chosen token in the model's distribution (0 unless
                         // logprobs or top_logprobs was asked for)
  std::vector<TokenLogprob> top;  // the top_logprobs most likely tokens, best first
};

// `token`'s log-probability in the distribution of `logits` (their log-softmax) and the
// `top_n` most likely tokens (ties to the lower id), best first: how a sampled token and a
// scored prompt token are both reported. Linear in the vocabulary.
ScoredToken score_token(std::span<const float> logits, TokenId token, int top_n);

class Sampler {
 public:
  explicit Sampler(SamplingParams params);

  // `prompt` and `generated` are the sequence so far (for penalties). With a constraint the
  // token is one it allows (or -1 if it allows none); the caller advances the constraint.
  Sample sample(std::span<const float> logits, std::span<const TokenId> prompt,
                std::span<const TokenId> generated, const TokenConstraint* constraint = nullptr);

  // The random number in [0, 1) of the `draw`-th draw for the token at `position` under `seed`
  // (a constrained sample that must draw again takes draw 1).
  static double uniform(uint64_t seed, uint64_t position, uint32_t draw);

  // How many samples needed the constraint's full mask (its rejections), for metrics.
  int64_t masked_samples() const { return masked_samples_; }

  const SamplingParams& params() const { return params_; }

 private:
  struct Candidate {
    TokenId token;
    float logit;
  };
  void apply_penalties(std::span<const TokenId> prompt, std::span<const TokenId> generated);
  TokenId draw();
  TokenId choose();  // greedy or a draw over adjusted_
  void keep_top_p(float max_logit);

  SamplingParams params_;
  uint64_t position_ = 0;        // of the token being sampled
  uint32_t draws_ = 0;           // draws made for it so far
  std::vector<float> adjusted_;  // logits after bias and penalties
  std::vector<Candidate> candidates_;
  std::vector<int32_t> counts_;   // scratch: occurrences per token
  std::vector<float> weights_;    // scratch: unnormalised probabilities of the candidates
  std::vector<uint8_t> allowed_;  // scratch: a constraint's mask
  int64_t masked_samples_ = 0;
};

}  // namespace shardserve
