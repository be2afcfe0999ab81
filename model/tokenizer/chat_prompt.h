// The tokens of a chat prompt: the text a chat template rendered, tokenized the way llama.cpp's
// chat path does (common_chat_templates_apply), for every caller that renders templates (the
// coordinator's chat requests, `shardserve generate --chat`).
//
// Templates of Gemma, Llama 3.x and Phi-3 begin with `{{ bos_token }}`, and their vocabularies
// also say add_bos: tokenized as rendered, with add_special, the prompt would start with two
// BOS tokens. So a leading BOS text is removed from the rendered text when the vocabulary adds
// BOS, and a trailing EOS text when it adds EOS, and the tokenizer then adds each exactly once.
// A template without `{{ bos_token }}` still gets its BOS from add_bos; a vocabulary without
// add_bos keeps the text (which special-token parsing turns into the BOS token).
//
// Pure functions of an immutable Tokenizer: thread-safe.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "base/token_id.h"
#include "model/tokenizer/tokenizer.h"

namespace shardserve {

// The template variables `bos_token` and `eos_token`: the pieces of the vocabulary's BOS and
// EOS tokens (their text, e.g. "<bos>"), "" where it has none. As llama.cpp gives them.
std::string chat_bos_token(const Tokenizer& tokenizer);
std::string chat_eos_token(const Tokenizer& tokenizer);

// `rendered` without the special-token texts the tokenizer adds itself: one leading
// chat_bos_token() when the vocabulary adds BOS, one trailing chat_eos_token() when it adds EOS.
std::string_view strip_added_special_texts(std::string_view rendered, const Tokenizer& tokenizer);

// The prompt tokens of a rendered chat template: strip_added_special_texts, then encode with
// add_special (BOS/EOS as the vocabulary says) and parse_special (special-token texts the
// template wrote become their tokens).
std::vector<TokenId> encode_chat_prompt(const Tokenizer& tokenizer, std::string_view rendered);

}  // namespace shardserve
