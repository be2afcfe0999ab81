// The vocabulary the coordinator and the worker groups share: what a sequence asks for
// (SequenceRequest with its SamplingParams) and what it produces (TokenEvent with its
// FinishReason and log-probabilities).
//
// These are plain values with no behaviour. They sit below both ends of the link: the
// coordinator builds SequenceRequests and reads TokenEvents, the group leader's scheduler and
// sampler consume and produce them, and wire/messages.h carries them over ZeroMQ. Nothing here
// knows about HTTP, text or the model's weights: workers only ever see token ids.
#pragma once

#include <cstdint>
#include <utility>
#include <vector>

#include "base/token_id.h"

namespace shardserve {

// How the next token is chosen from a row of logits (model/sampler/sampler.h applies it).
struct SamplingParams {
  float temperature = 1.0f;         // 0: greedy
  int32_t top_k = 0;                // 0: off
  float top_p = 1.0f;               // 1: off
  float min_p = 0.0f;               // 0: off
  float repetition_penalty = 1.0f;  // 1: off; over the last `penalty_last_n` tokens
  float presence_penalty = 0.0f;    // OpenAI: over generated tokens
  float frequency_penalty = 0.0f;   // OpenAI: over generated tokens
  int32_t penalty_last_n = 64;      // window of the repetition penalty (-1: everything)
  std::vector<std::pair<TokenId, float>> logit_bias;  // added to the logits
  uint64_t seed = 0;
  bool logprobs = false;     // report the chosen token's log-probability
  int32_t top_logprobs = 0;  // alternatives to report per token (0..20); implies logprobs
};

// A token and its log-probability in the model's distribution.
struct TokenLogprob {
  TokenId token = 0;
  float logprob = 0.0f;
};

enum class FinishReason : uint8_t { None = 0, Stop = 1, Length = 2, Cancelled = 3 };

// One sequence to generate: a prompt of token ids and how to continue it.
struct SequenceRequest {
  int64_t id = 0;               // unique among live sequences of this group
  std::vector<TokenId> prompt;  // at least one token
  SamplingParams sampling;
  int64_t max_tokens = 16;           // tokens to generate at most
  std::vector<TokenId> stop_tokens;  // end-of-generation ids: finish with Stop
};

// One token produced by one sequence in one step.
struct TokenEvent {
  int64_t id = 0;
  TokenId token = -1;  // -1 when the event only reports a finish (cancel, rejection)
  float logprob = 0.0f;
  std::vector<TokenLogprob> top;
  FinishReason finish = FinishReason::None;
  int64_t prompt_tokens = 0;
  int64_t generated_tokens = 0;  // including this token
};

}  // namespace shardserve
