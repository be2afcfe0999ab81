// parse_completion_request: POST /v1/completions bodies (the legacy text completions).
#include <array>
#include <limits>
#include <string_view>

#include "api/openai_request.h"
#include "api/request_fields.h"

namespace shardserve::api {

namespace {

using detail::FieldReader;
using detail::json;

constexpr std::array<std::string_view, 25> kSupported = {"model",
                                                         "prompt",
                                                         "max_tokens",
                                                         "temperature",
                                                         "top_p",
                                                         "top_k",
                                                         "min_p",
                                                         "repetition_penalty",
                                                         "presence_penalty",
                                                         "frequency_penalty",
                                                         "logit_bias",
                                                         "seed",
                                                         "n",
                                                         "stop",
                                                         "stream",
                                                         "stream_options",
                                                         "logprobs",
                                                         "user",
                                                         "ignore_eos",
                                                         "safety_identifier",
                                                         "prompt_cache_key",
                                                         "cache_salt",
                                                         "echo",
                                                         "suffix",
                                                         "best_of"};

constexpr std::array<std::string_view, 0> kUnsupported = {};

constexpr int64_t kMaxTokenId = std::numeric_limits<int32_t>::max();

ApiError empty_array(const std::string& param) {
  return ApiError::bad_request("Invalid '" + param +
                                   "': empty array. Expected an array with minimum length 1, "
                                   "but got an empty array instead.",
                               param, "empty_array");
}

// Token ids of `array` (every element an integer in [0, 2^31)).
std::optional<std::vector<int32_t>> token_ids(FieldReader& r, const json& array,
                                              const std::string& param) {
  std::vector<int32_t> ids;
  ids.reserve(array.size());
  for (size_t i = 0; i < array.size(); ++i) {
    const std::string p = param + "[" + std::to_string(i) + "]";
    if (array[i].is_null()) r.fail(detail::invalid_type(p, "an integer token id", array[i]));
    const auto id = r.integer(array[i], p, 0, kMaxTokenId);
    if (!id) return std::nullopt;
    ids.push_back(static_cast<int32_t>(*id));
  }
  return ids;
}

// prompt: a string, an array of strings, an array of token ids, or an array of token-id
// arrays.
std::optional<std::vector<Prompt>> read_prompts(FieldReader& r, const json& body) {
  const auto it = body.find("prompt");
  if (it == body.end() || it->is_null()) {
    r.fail(detail::missing_parameter("prompt"));
    return std::nullopt;
  }
  const json& prompt = *it;
  constexpr std::string_view kExpected =
      "a string, an array of strings, an array of token ids or an array of token-id arrays";
  std::vector<Prompt> prompts;
  if (prompt.is_string()) {
    prompts.emplace_back(prompt.get<std::string>());
    return prompts;
  }
  if (!prompt.is_array()) {
    r.fail(detail::invalid_type("prompt", kExpected, prompt));
    return std::nullopt;
  }
  if (prompt.empty()) {
    r.fail(empty_array("prompt"));
    return std::nullopt;
  }
  const json& first = prompt.front();
  if (first.is_number()) {  // one prompt of token ids
    auto ids = token_ids(r, prompt, "prompt");
    if (!ids) return std::nullopt;
    prompts.emplace_back(std::move(*ids));
    return prompts;
  }
  if (prompt.size() > static_cast<size_t>(kMaxPrompts)) {
    r.fail(ApiError::bad_request("Invalid 'prompt': array too long. Expected at most " +
                                     std::to_string(kMaxPrompts) + " prompts, but got " +
                                     std::to_string(prompt.size()) + " instead.",
                                 "prompt", "array_above_max_length"));
    return std::nullopt;
  }
  for (size_t i = 0; i < prompt.size(); ++i) {
    const json& item = prompt[i];
    const std::string param = "prompt[" + std::to_string(i) + "]";
    if (first.is_string() && item.is_string()) {
      prompts.emplace_back(item.get<std::string>());
    } else if (first.is_array() && item.is_array()) {
      if (item.empty()) {
        r.fail(empty_array(param));
        return std::nullopt;
      }
      auto ids = token_ids(r, item, param);
      if (!ids) return std::nullopt;
      prompts.emplace_back(std::move(*ids));
    } else {
      r.fail(detail::invalid_type(param,
                                  first.is_string()  ? "a string"
                                  : first.is_array() ? "an array of token ids"
                                                     : kExpected,
                                  item));
      return std::nullopt;
    }
  }
  return prompts;
}

}  // namespace

ApiResult<CompletionRequest> parse_completion_request(std::string_view body_text) {
  auto head = detail::read_request_head(body_text, kSupported, kUnsupported);
  if (!head.ok()) return head.error();
  const json& body = head.value().body;
  FieldReader r;
  CompletionRequest request;
  request.model = std::move(head.value().model);

  auto prompts = read_prompts(r, body);
  if (!prompts) return r.error();
  request.prompts = std::move(*prompts);

  GenerationOptions& o = request.options;
  // 0 is allowed here (as OpenAI's legacy endpoint): with echo it scores the prompt alone.
  o.max_tokens = r.integer(body, "max_tokens", 0, std::numeric_limits<int64_t>::max());
  r.common_options(body, o);
  if (auto k = r.integer(body, "logprobs", 0, kMaxCompletionLogprobs)) {
    o.logprobs = true;
    o.top_logprobs = static_cast<int>(*k);
  }
  if (auto echo = r.boolean(body, "echo")) o.echo = *echo;
  if (auto suffix = r.string(body, "suffix"); suffix && !suffix->empty()) {
    r.fail(detail::unsupported_parameter("suffix", detail::unsupported_hint("suffix")));
  }
  if (auto best_of = r.integer(body, "best_of", 1, 20); best_of && *best_of != o.n) {
    r.fail(detail::unsupported_parameter("best_of", detail::unsupported_hint("best_of")));
  }
  if (r.ok() && request.prompts.size() * static_cast<size_t>(o.n) >
                    static_cast<size_t>(kMaxChoicesPerRequest)) {
    r.fail(ApiError::bad_request(
        "Invalid 'n': " + std::to_string(request.prompts.size()) +
            " prompts with n = " + std::to_string(o.n) + " ask for " +
            std::to_string(request.prompts.size() * static_cast<size_t>(o.n)) +
            " choices; at most " + std::to_string(kMaxChoicesPerRequest) +
            " are allowed per request.",
        "n", "invalid_value"));
  }
  if (!r.ok()) return r.error();
  return request;
}

}  // namespace shardserve::api
