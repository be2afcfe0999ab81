#include "coordinator/serving/tokenize_endpoint.h"

#include <nlohmann/json.hpp>

#include "api/openai_request.h"
#include "coordinator/serving/prompt.h"

namespace shardserve {
namespace {

using nlohmann::json;

api::ApiResult<json> parse_object(std::string_view body) {
  json j = json::parse(body, nullptr, false);
  if (j.is_discarded()) return api::ApiError::bad_request("the body is not valid JSON");
  if (!j.is_object()) return api::ApiError::bad_request("the body must be a JSON object");
  return j;
}

// The served chat model the body names.
api::ApiResult<const ServedModel*> model_of(const EndpointContext& ctx, const json& body) {
  const auto it = body.find("model");
  if (it == body.end() || !it->is_string())
    return api::ApiError::bad_request("Missing required parameter: 'model' (a string).", "model",
                                      "missing_required_parameter");
  const ServedModel* model = find_model(ctx.models, it->get<std::string>());
  if (!model || model->task != ModelTask::kChat || !model->tokenizer)
    return api::ApiError::model_not_found(it->get<std::string>());
  return model;
}

api::ApiResult<bool> flag(const json& body, const char* key, bool fallback) {
  const auto it = body.find(key);
  if (it == body.end() || it->is_null()) return fallback;
  if (!it->is_boolean())
    return api::ApiError::bad_request(std::string("'") + key + "' must be a boolean", key,
                                      "invalid_type");
  return it->get<bool>();
}

Response ok(const json& j) {
  return Response::json(200, j.dump(-1, ' ', false, json::error_handler_t::replace));
}

}  // namespace

Response post_tokenize(const EndpointContext& ctx, std::string_view text) {
  auto body = parse_object(text);
  if (!body.ok()) return Response::error(body.error());
  auto model = model_of(ctx, *body);
  if (!model.ok()) return Response::error(model.error());
  const ServedModel& m = **model;
  for (const auto& [key, unused] : body->items())
    if (key != "model" && key != "prompt" && key != "messages" && key != "add_special_tokens" &&
        key != "add_generation_prompt" && key != "return_token_strs")
      return Response::error(api::ApiError::bad_request(
          "Unrecognized request argument supplied: " + key, key, "unknown_parameter"));
  auto strs = flag(*body, "return_token_strs", false);
  if (!strs.ok()) return Response::error(strs.error());

  std::vector<TokenId> tokens;
  const bool has_prompt = body->contains("prompt"), has_messages = body->contains("messages");
  if (has_prompt == has_messages)
    return Response::error(api::ApiError::bad_request(
        "Give exactly one of 'prompt' (text) and 'messages' (a chat).", "prompt"));
  if (has_prompt) {
    if (!(*body)["prompt"].is_string())
      return Response::error(
          api::ApiError::bad_request("'prompt' must be a string", "prompt", "invalid_type"));
    auto special = flag(*body, "add_special_tokens", true);
    if (!special.ok()) return Response::error(special.error());
    tokens = m.tokenizer->encode((*body)["prompt"].get<std::string>(), *special, true);
  } else {
    auto generation_prompt = flag(*body, "add_generation_prompt", true);
    if (!generation_prompt.ok()) return Response::error(generation_prompt.error());
    if (!*generation_prompt)
      return Response::error(api::ApiError::bad_request(
          "add_generation_prompt false is not supported: the prompt is rendered as "
          "/v1/chat/completions renders it",
          "add_generation_prompt", "unsupported_value"));
    // The same validation and rendering as a chat completion of these messages.
    const json chat = {{"model", m.name}, {"messages", (*body)["messages"]}};
    auto request = api::parse_chat_completion_request(chat.dump());
    if (!request.ok()) return Response::error(request.error());
    auto rendered = chat_prompt(m, *request);
    if (!rendered.ok()) return Response::error(rendered.error());
    tokens = std::move(*rendered);
  }
  json out = {{"count", tokens.size()}, {"max_model_len", m.context_length}, {"tokens", tokens}};
  if (*strs) {
    json pieces = json::array();
    for (TokenId t : tokens) pieces.push_back(m.tokenizer->token_to_piece(t));
    out["token_strs"] = std::move(pieces);
  }
  return ok(out);
}

Response post_detokenize(const EndpointContext& ctx, std::string_view text) {
  auto body = parse_object(text);
  if (!body.ok()) return Response::error(body.error());
  auto model = model_of(ctx, *body);
  if (!model.ok()) return Response::error(model.error());
  const ServedModel& m = **model;
  for (const auto& [key, unused] : body->items())
    if (key != "model" && key != "tokens")
      return Response::error(api::ApiError::bad_request(
          "Unrecognized request argument supplied: " + key, key, "unknown_parameter"));
  const auto it = body->find("tokens");
  if (it == body->end() || !it->is_array())
    return Response::error(
        api::ApiError::bad_request("Missing required parameter: 'tokens' (an array of token ids).",
                                   "tokens", "missing_required_parameter"));
  std::vector<TokenId> tokens;
  for (size_t i = 0; i < it->size(); ++i) {
    const json& t = (*it)[i];
    if (!t.is_number_integer() || t.get<int64_t>() < 0 ||
        t.get<int64_t>() >= m.tokenizer->n_vocab())
      return Response::error(api::ApiError::bad_request(
          "tokens[" + std::to_string(i) + "] is not a token id of this model (0 to " +
              std::to_string(m.tokenizer->n_vocab() - 1) + ")",
          "tokens[" + std::to_string(i) + "]", "invalid_value"));
    tokens.push_back(static_cast<TokenId>(t.get<int64_t>()));
  }
  return ok(json{{"prompt", m.tokenizer->decode(tokens)}});
}

}  // namespace shardserve
