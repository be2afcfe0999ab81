// POST /tokenize and POST /detokenize: a served chat model's tokenizer, as vLLM's server
// exposes it (clients count tokens, check prompts against the context, decode ids).
//
//   /tokenize    {"model", "prompt": "text", "add_special_tokens": true}
//             or {"model", "messages": [...], "add_generation_prompt": true}
//                (the chat template rendered exactly as /v1/chat/completions renders it)
//             -> {"count": N, "max_model_len": context length, "tokens": [ids],
//                 "token_strs": [each token's text] (only with "return_token_strs": true)}
//   /detokenize  {"model", "tokens": [ids]} -> {"prompt": "text"}
//
// Errors are OpenAI error objects: 400 for a malformed body, a missing or mistyped field, or a
// token id outside the vocabulary; 404 for a model that is not served or not a chat model.
#pragma once

#include <string_view>

#include "coordinator/serving/endpoint.h"

namespace shardserve {

Response post_tokenize(const EndpointContext& ctx, std::string_view body);
Response post_detokenize(const EndpointContext& ctx, std::string_view body);

}  // namespace shardserve
