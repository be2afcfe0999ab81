// The prompt tokens of chat and completions requests. Text stays in the coordinator: the
// worker groups see only these token ids.
//
// chat_prompt renders the model's chat template over the request's messages (with
// add_generation_prompt, bos_token and eos_token), then tokenizes the text with the model's
// special tokens (BOS added as the model's metadata says, once: a template that writes
// `{{ bos_token }}` does not double it; see model/tokenizer/chat_prompt.h). A model
// without a chat template, or a template that fails on these messages, is a 400 about
// "messages".
//
// completion_prompts makes one token sequence per prompt of a completions request: text is
// tokenized as above, token ids are taken as given once each is inside the vocabulary (a 400
// about "prompt" names the first one that is not).
//
// Pure functions of an immutable model: thread-safe.
#pragma once

#include <vector>

#include "api/openai_error.h"
#include "api/openai_request.h"
#include "coordinator/serving/served_model.h"

namespace shardserve {

api::ApiResult<std::vector<TokenId>> chat_prompt(const ServedModel& model,
                                                 const api::ChatCompletionRequest& request);

// The rendered text chat_prompt tokenizes. With tools (tool_choice other than none) a template
// that knows tools gets them as its `tools` variable (OpenAI's objects); a template that does
// not (ToolFormat::kGeneric) gets them described in the system message instead
// (generic_tools_system_prompt), and earlier calls and tool results as text it can render.
api::ApiResult<std::string> chat_prompt_text(const ServedModel& model,
                                             const api::ChatCompletionRequest& request);

api::ApiResult<std::vector<std::vector<TokenId>>> completion_prompts(
    const ServedModel& model, const api::CompletionRequest& request);

}  // namespace shardserve
