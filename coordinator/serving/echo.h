// The completions API's `echo`: a choice's text starts with its prompt's text and, with
// logprobs, its logprobs start with one entry per prompt token, each scored by the group given
// the tokens before it (SequenceRequest::score_prompt). This is how evaluation harnesses score
// a continuation: `echo: true, max_tokens: 0, logprobs: 1` and the sum of the token_logprobs
// after the context.
//
// Pure functions; the Tokenizer is only read.
#pragma once

#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "api/openai_request.h"
#include "api/openai_response.h"
#include "model/tokenizer/tokenizer.h"
#include "wire/sequence.h"

namespace shardserve {

// The text a choice echoes: a string prompt as it was sent; token ids decoded with their
// special tokens rendered (as they were sent, the ids are the prompt).
std::string echo_text(const Tokenizer& tokenizer, const api::Prompt& prompt,
                      std::span<const TokenId> tokens);

// One entry per token of `prompt`, in order: its piece, its logprob and top alternatives from
// `scores` (scores[i - 1] is token i's; the first token is unscored: null in the response), and
// the byte offset of its text in `text` (echo_text()). A piece that `text` does not hold at
// that offset (a BOS the tokenizer added, a leading space SentencePiece drops) takes the offset
// without advancing it, so offsets never pass the text's end and never go back.
// Precondition: scores.size() + 1 == prompt.size().
std::vector<api::TokenLogprobs> echo_logprobs(const Tokenizer& tokenizer,
                                              std::span<const TokenId> prompt,
                                              std::span<const ScoredToken> scores,
                                              std::string_view text);

}  // namespace shardserve
