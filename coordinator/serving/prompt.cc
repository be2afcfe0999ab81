#include "coordinator/serving/prompt.h"

#include <string>
#include <variant>

#include <nlohmann/json.hpp>

#include "model/tokenizer/chat_prompt.h"

namespace shardserve {

api::ApiResult<std::vector<TokenId>> chat_prompt(const ServedModel& model,
                                                 const api::ChatCompletionRequest& request) {
  if (!model.chat_template)
    return api::ApiError::bad_request(
        "model '" + model.name + "' has no chat template; use /v1/completions", "messages");
  const Tokenizer& t = *model.tokenizer;
  nlohmann::ordered_json context = {{"messages", api::chat_messages_json(request.messages)},
                                    {"add_generation_prompt", true},
                                    {"bos_token", chat_bos_token(t)},
                                    {"eos_token", chat_eos_token(t)}};
  auto text = model.chat_template->render(context);
  if (!text) return api::ApiError::bad_request(text.error().message, "messages");
  return encode_chat_prompt(t, *text);
}

api::ApiResult<std::vector<std::vector<TokenId>>> completion_prompts(
    const ServedModel& model, const api::CompletionRequest& request) {
  const Tokenizer& t = *model.tokenizer;
  std::vector<std::vector<TokenId>> prompts;
  for (const api::Prompt& p : request.prompts) {
    if (const auto* text = std::get_if<std::string>(&p)) {
      prompts.push_back(t.encode(*text, true, true));
      continue;
    }
    const auto& ids = std::get<std::vector<int32_t>>(p);
    for (int32_t id : ids)
      if (id < 0 || id >= t.n_vocab())
        return api::ApiError::bad_request("token id " + std::to_string(id) +
                                              " is outside the vocabulary (0.." +
                                              std::to_string(t.n_vocab() - 1) + ")",
                                          "prompt");
    prompts.emplace_back(ids.begin(), ids.end());
  }
  return prompts;
}

}  // namespace shardserve
