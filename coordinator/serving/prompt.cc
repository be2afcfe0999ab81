#include "coordinator/serving/prompt.h"

#include <string>
#include <variant>

#include <nlohmann/json.hpp>

#include "model/tokenizer/chat_prompt.h"

namespace shardserve {

namespace {

bool tools_active(const api::ChatCompletionRequest& r) {
  return !r.tools.empty() && r.tool_choice.mode != api::ToolChoice::Mode::kNone;
}

// OpenAI's tool objects, as templates that know tools read them.
nlohmann::ordered_json tools_json(const std::vector<api::ToolFunction>& tools) {
  nlohmann::ordered_json out = nlohmann::ordered_json::array();
  for (const api::ToolFunction& f : tools) {
    nlohmann::ordered_json function = {{"name", f.name}};
    if (!f.description.empty()) function["description"] = f.description;
    function["parameters"] =
        f.parameters.is_null() ? nlohmann::ordered_json{{"type", "object"}} : f.parameters;
    out.push_back({{"type", "function"}, {"function", std::move(function)}});
  }
  return out;
}

// For a template without tool support: the tools described in the first system message (one is
// added when there is none), earlier calls written in the answer format the model is told,
// and tool results as user turns the template can render.
std::vector<api::ChatMessage> generic_tool_messages(const api::ChatCompletionRequest& r) {
  std::vector<api::ChatMessage> out;
  for (const api::ChatMessage& m : r.messages) {
    api::ChatMessage copy = m;
    if (!copy.tool_calls.empty()) {
      const std::string calls = generic_tool_calls_text(copy.tool_calls);
      copy.content = copy.content.empty() ? calls : copy.content + "\n" + calls;
      copy.tool_calls.clear();
    }
    if (copy.role == "tool") {
      copy.role = "user";
      copy.content = "Result of tool call " + m.tool_call_id + ":\n" + m.content;
      copy.tool_call_id.clear();
    }
    out.push_back(std::move(copy));
  }
  if (tools_active(r)) {
    const std::string description =
        generic_tools_system_prompt(r.tools, r.tool_choice, r.parallel_tool_calls);
    if (!out.empty() && out.front().role == "system") {
      out.front().content = out.front().content + "\n\n" + description;
    } else {
      out.insert(out.begin(), api::ChatMessage{.role = "system", .content = description});
    }
  }
  return out;
}

}  // namespace

api::ApiResult<std::string> chat_prompt_text(const ServedModel& model,
                                             const api::ChatCompletionRequest& request) {
  if (!model.chat_template)
    return api::ApiError::bad_request(
        "model '" + model.name + "' has no chat template; use /v1/completions", "messages");
  const Tokenizer& t = *model.tokenizer;
  const bool generic = model.tool_format == ToolFormat::kGeneric;
  nlohmann::ordered_json context = {
      {"messages",
       api::chat_messages_json(generic ? generic_tool_messages(request) : request.messages)},
      {"add_generation_prompt", true},
      {"bos_token", chat_bos_token(t)},
      {"eos_token", chat_eos_token(t)}};
  if (tools_active(request) && !generic) context["tools"] = tools_json(request.tools);
  auto text = model.chat_template->render(context);
  if (!text) return api::ApiError::bad_request(text.error().message, "messages");
  return std::move(*text);
}

api::ApiResult<std::vector<TokenId>> chat_prompt(const ServedModel& model,
                                                 const api::ChatCompletionRequest& request) {
  auto text = chat_prompt_text(model, request);
  if (!text.ok()) return text.error();
  return encode_chat_prompt(*model.tokenizer, *text);
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
