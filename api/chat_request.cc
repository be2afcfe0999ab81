// parse_chat_completion_request: POST /v1/chat/completions bodies.
#include <array>
#include <cctype>
#include <limits>
#include <set>
#include <string_view>

#include "api/openai_request.h"
#include "api/request_fields.h"

namespace shardserve::api {

namespace {

using detail::FieldReader;
using detail::json;

constexpr std::array<std::string_view, 24> kSupported = {"model",
                                                         "messages",
                                                         "max_tokens",
                                                         "max_completion_tokens",
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
                                                         "top_logprobs",
                                                         "user",
                                                         "ignore_eos",
                                                         "safety_identifier",
                                                         "prompt_cache_key",
                                                         "response_format"};

// Known OpenAI parameters we do not implement: 400 unless null or neutral (see is_neutral).
constexpr std::array<std::string_view, 14> kUnsupported = {
    "tools",     "tool_choice", "functions",  "function_call",      "parallel_tool_calls",
    "audio",     "modalities",  "prediction", "web_search_options", "reasoning_effort",
    "verbosity", "store",       "metadata",   "service_tier"};

std::string at(const std::string& base, size_t i) {
  return base + "[" + std::to_string(i) + "]";
}

// Text of a message's content: a string, or an array of {type: "text", text} parts joined
// with "\n".
std::optional<std::string> read_content(FieldReader& r, const json& content,
                                        const std::string& param) {
  if (!r.ok()) return std::nullopt;
  if (content.is_string()) return content.get<std::string>();
  if (!content.is_array()) {
    r.fail(detail::invalid_type(param, "a string or an array of content parts", content));
    return std::nullopt;
  }
  if (content.empty()) {
    r.fail(ApiError::bad_request("Invalid '" + param +
                                     "': empty array. Expected an array with minimum length 1, "
                                     "but got an empty array instead.",
                                 param, "empty_array"));
    return std::nullopt;
  }
  std::string text;
  for (size_t i = 0; i < content.size(); ++i) {
    const json& part = content[i];
    const std::string part_param = at(param, i);
    if (!part.is_object()) {
      r.fail(detail::invalid_type(part_param, "an object", part));
      return std::nullopt;
    }
    const auto type_it = part.find("type");
    if (type_it == part.end() || type_it->is_null()) {
      r.fail(detail::missing_parameter(part_param + ".type"));
      return std::nullopt;
    }
    const auto type = r.string(*type_it, part_param + ".type");
    if (!type) return std::nullopt;
    if (*type != "text") {
      r.fail(ApiError::bad_request(
          "Invalid content part type '" + *type + "' in '" + part_param +
              "': this server only accepts text parts ({\"type\": \"text\", \"text\": ...}).",
          part_param + ".type", "unsupported_content_type"));
      return std::nullopt;
    }
    for (const auto& [key, unused] : part.items()) {
      if (key != "type" && key != "text") {
        r.fail(
            ApiError::bad_request("Unrecognized argument supplied in '" + part_param + "': " + key,
                                  part_param + "." + key, "unknown_parameter"));
        return std::nullopt;
      }
    }
    const auto text_it = part.find("text");
    if (text_it == part.end() || text_it->is_null()) {
      r.fail(detail::missing_parameter(part_param + ".text"));
      return std::nullopt;
    }
    auto piece = r.string(*text_it, part_param + ".text");
    if (!piece) return std::nullopt;
    if (i > 0) text += '\n';
    text += *piece;
  }
  return text;
}

std::optional<ChatMessage> read_message(FieldReader& r, const json& message, size_t index) {
  const std::string param = at("messages", index);
  if (!message.is_object()) {
    r.fail(detail::invalid_type(param, "an object", message));
    return std::nullopt;
  }
  const json null_value;
  auto get = [&](const char* key) -> const json& {
    const auto it = message.find(key);
    return it == message.end() ? null_value : *it;
  };

  const json& role_value = get("role");
  if (role_value.is_null()) {
    r.fail(detail::missing_parameter(param + ".role"));
    return std::nullopt;
  }
  auto role = r.string(role_value, param + ".role");
  if (!role) return std::nullopt;
  if (*role == "tool" || *role == "function") {
    r.fail(ApiError::bad_request("Invalid value: '" + *role + "'. Messages with role '" + *role +
                                     "' need tool calling, which this server does not support.",
                                 param + ".role", "unsupported_value"));
    return std::nullopt;
  }
  if (*role != "system" && *role != "user" && *role != "assistant" && *role != "developer") {
    r.fail(ApiError::bad_request("Invalid value: '" + *role +
                                     "'. Supported values are: 'system', 'developer', 'user' and "
                                     "'assistant'.",
                                 param + ".role", "invalid_value"));
    return std::nullopt;
  }
  const bool assistant = *role == "assistant";

  for (const auto& [key, value] : message.items()) {
    if (key == "role" || key == "content" || key == "name") continue;
    if (assistant && key == "refusal") {
      (void)r.string(value, param + ".refusal");  // earlier answers' refusals: history only
      continue;
    }
    if (assistant && (key == "tool_calls" || key == "function_call" || key == "audio")) {
      if (!value.is_null() && !(value.is_array() && value.empty())) {
        r.fail(detail::unsupported_parameter(param + "." + key));
      }
      continue;
    }
    r.fail(ApiError::bad_request("Unrecognized argument supplied in '" + param + "': " + key,
                                 param + "." + key, "unknown_parameter"));
  }
  if (!r.ok()) return std::nullopt;

  ChatMessage out;
  out.role = *role == "developer" ? "system" : *role;
  const json& content = get("content");
  if (content.is_null()) {
    r.fail(detail::missing_parameter(param + ".content"));
    return std::nullopt;
  }
  auto text = read_content(r, content, param + ".content");
  if (!text) return std::nullopt;
  out.content = std::move(*text);
  if (auto name = r.string(get("name"), param + ".name")) out.name = std::move(*name);
  if (!r.ok()) return std::nullopt;
  return out;
}

bool valid_schema_name(const std::string& name) {
  if (name.empty() || name.size() > 64) return false;
  for (char c : name)
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_' && c != '-') return false;
  return true;
}

// response_format: {"type": "text"}, {"type": "json_object"} or {"type": "json_schema",
// "json_schema": {"name", "schema", "strict", "description"}}. The schema is taken from
// `ordered`, the body parsed again keeping its key order (properties are generated in it).
std::optional<ResponseFormat> read_response_format(FieldReader& r, const json& value,
                                                   std::string_view body_text) {
  ResponseFormat out;
  if (value.is_null() || !r.ok()) return out;
  if (!value.is_object()) {
    r.fail(detail::invalid_type("response_format", "an object", value));
    return std::nullopt;
  }
  const json null_value;
  auto member = [&](const json& object, const char* key) -> const json& {
    const auto it = object.find(key);
    return it == object.end() ? null_value : *it;
  };
  if (member(value, "type").is_null()) {
    r.fail(detail::missing_parameter("response_format.type"));
    return std::nullopt;
  }
  auto type = r.string(member(value, "type"), std::string("response_format.type"));
  if (!type) return std::nullopt;
  const std::set<std::string> keys_of_type = *type == "json_schema"
                                                 ? std::set<std::string>{"type", "json_schema"}
                                                 : std::set<std::string>{"type"};
  for (const auto& [key, unused] : value.items()) {
    if (!keys_of_type.count(key)) {
      r.fail(ApiError::bad_request("Unrecognized argument supplied in 'response_format': " + key,
                                   "response_format." + key, "unknown_parameter"));
      return std::nullopt;
    }
  }
  if (*type == "text") return out;
  if (*type == "json_object") {
    out.type = ResponseFormat::Type::kJsonObject;
    return out;
  }
  if (*type != "json_schema") {
    r.fail(ApiError::bad_request("Invalid value: '" + *type +
                                     "'. Supported values are: 'text', 'json_object' and "
                                     "'json_schema'.",
                                 "response_format.type", "invalid_value"));
    return std::nullopt;
  }
  out.type = ResponseFormat::Type::kJsonSchema;
  const auto spec_it = value.find("json_schema");
  if (spec_it == value.end() || spec_it->is_null()) {
    r.fail(detail::missing_parameter("response_format.json_schema"));
    return std::nullopt;
  }
  const json& spec = *spec_it;
  if (!spec.is_object()) {
    r.fail(detail::invalid_type("response_format.json_schema", "an object", spec));
    return std::nullopt;
  }
  for (const auto& [key, unused] : spec.items()) {
    if (key != "name" && key != "schema" && key != "strict" && key != "description") {
      r.fail(ApiError::bad_request(
          "Unrecognized argument supplied in 'response_format.json_schema': " + key,
          "response_format.json_schema." + key, "unknown_parameter"));
      return std::nullopt;
    }
  }
  const auto name_it = spec.find("name");
  if (name_it == spec.end() || name_it->is_null()) {
    r.fail(detail::missing_parameter("response_format.json_schema.name"));
    return std::nullopt;
  }
  auto name = r.string(*name_it, std::string("response_format.json_schema.name"));
  if (!name) return std::nullopt;
  if (!valid_schema_name(*name)) {
    r.fail(ApiError::bad_request(
        "Invalid 'response_format.json_schema.name': '" + *name +
            "'. Expected a string of 1 to 64 letters, digits, underscores or dashes.",
        "response_format.json_schema.name", "invalid_value"));
    return std::nullopt;
  }
  out.name = std::move(*name);
  if (auto strict =
          r.boolean(member(spec, "strict"), std::string("response_format.json_schema.strict")))
    out.strict = *strict;
  (void)r.string(member(spec, "description"),
                 std::string("response_format.json_schema.description"));
  const auto schema_it = spec.find("schema");
  if (schema_it != spec.end() && !schema_it->is_null()) {
    if (!schema_it->is_object()) {
      r.fail(detail::invalid_type("response_format.json_schema.schema", "an object", *schema_it));
      return std::nullopt;
    }
    // The same document again, in the body's key order.
    const auto ordered = nlohmann::ordered_json::parse(body_text, nullptr, false);
    out.schema = ordered.at("response_format").at("json_schema").at("schema");
  }
  if (!r.ok()) return std::nullopt;
  return out;
}

}  // namespace

ApiResult<ChatCompletionRequest> parse_chat_completion_request(std::string_view body_text) {
  auto head = detail::read_request_head(body_text, kSupported, kUnsupported);
  if (!head.ok()) return head.error();
  const json& body = head.value().body;
  FieldReader r;
  ChatCompletionRequest request;
  request.model = std::move(head.value().model);

  const auto messages_it = body.find("messages");
  if (messages_it == body.end() || messages_it->is_null()) {
    return detail::missing_parameter("messages");
  }
  const json& messages = *messages_it;
  if (!messages.is_array()) return detail::invalid_type("messages", "an array", messages);
  if (messages.empty()) {
    return ApiError::bad_request(
        "Invalid 'messages': empty array. Expected an array with minimum length 1, but got an "
        "empty array instead.",
        "messages", "empty_array");
  }
  for (size_t i = 0; i < messages.size(); ++i) {
    auto message = read_message(r, messages[i], i);
    if (!message) return r.error();
    request.messages.push_back(std::move(*message));
  }

  GenerationOptions& o = request.options;
  constexpr int64_t kMax = std::numeric_limits<int64_t>::max();
  const auto max_tokens = r.integer(body, "max_tokens", 1, kMax);
  const auto max_completion_tokens = r.integer(body, "max_completion_tokens", 1, kMax);
  o.max_tokens = max_completion_tokens ? max_completion_tokens : max_tokens;
  r.common_options(body, o);
  if (auto v = r.boolean(body, "logprobs")) o.logprobs = *v;
  if (auto v = r.integer(body, "top_logprobs", 0, kMaxTopLogprobs)) {
    if (!o.logprobs) {
      r.fail(ApiError::bad_request(
          "Invalid 'top_logprobs': 'logprobs' must be set to true when 'top_logprobs' is used.",
          "top_logprobs", "invalid_value"));
    }
    o.top_logprobs = static_cast<int>(*v);
  }
  const auto format_it = body.find("response_format");
  if (format_it != body.end()) {
    auto format = read_response_format(r, *format_it, body_text);
    if (format) request.response_format = std::move(*format);
  }
  if (!r.ok()) return r.error();
  return request;
}

nlohmann::ordered_json chat_messages_json(const std::vector<ChatMessage>& messages) {
  nlohmann::ordered_json out = nlohmann::ordered_json::array();
  for (const ChatMessage& m : messages) {
    nlohmann::ordered_json message;
    message["role"] = m.role;
    message["content"] = m.content;
    if (!m.name.empty()) message["name"] = m.name;
    out.push_back(std::move(message));
  }
  return out;
}

}  // namespace shardserve::api
