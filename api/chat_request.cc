// parse_chat_completion_request: POST /v1/chat/completions bodies.
#include <algorithm>
#include <array>
#include <cctype>
#include <initializer_list>
#include <limits>
#include <map>
#include <set>
#include <string_view>

#include "api/openai_request.h"
#include "api/request_fields.h"

namespace shardserve::api {

namespace {

using detail::FieldReader;
using detail::json;

constexpr std::array<std::string_view, 28> kSupported = {"model",
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
                                                         "cache_salt",
                                                         "response_format",
                                                         "tools",
                                                         "tool_choice",
                                                         "parallel_tool_calls"};

// Known OpenAI parameters we do not implement: 400 unless null or neutral (see is_neutral).
// The deprecated "functions"/"function_call" are refused with a hint to use tools.
constexpr std::array<std::string_view, 11> kUnsupported = {
    "functions",        "function_call", "audio", "modalities", "prediction",  "web_search_options",
    "reasoning_effort", "verbosity",     "store", "metadata",   "service_tier"};

constexpr size_t kMaxTools = 128;  // OpenAI's limit on `tools`
constexpr size_t kMaxFunctionNameLength = 64;

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

// object[key], or null when absent.
const json& member(const json& object, const char* key) {
  static const json null_value;
  const auto it = object.find(key);
  return it == object.end() ? null_value : *it;
}

// object[key] when present and not null, else records "Missing required parameter" for
// `param`.key and returns nullptr.
const json* required(FieldReader& r, const json& object, const std::string& param,
                     const char* key) {
  const json& value = member(object, key);
  if (!r.ok()) return nullptr;
  if (value.is_null()) {
    r.fail(detail::missing_parameter(param + "." + key));
    return nullptr;
  }
  return &value;
}

// Records "Unrecognized argument supplied in '<param>': <key>" for the first key of `object`
// not in `allowed`.
void only_keys(FieldReader& r, const json& object, const std::string& param,
               std::initializer_list<std::string_view> allowed) {
  for (const auto& [key, unused] : object.items()) {
    if (!r.ok()) return;
    if (std::find(allowed.begin(), allowed.end(), key) == allowed.end()) {
      r.fail(ApiError::bad_request("Unrecognized argument supplied in '" + param + "': " + key,
                                   param + "." + key, "unknown_parameter"));
    }
  }
}

// `object`.type, which must be the string "function" (the only kind of tool served).
void expect_function_type(FieldReader& r, const json& object, const std::string& param) {
  const json* type = required(r, object, param, "type");
  if (!type) return;
  const auto text = r.string(*type, param + ".type");
  if (text && *text != "function") {
    r.fail(ApiError::bad_request("Invalid value: '" + *text +
                                     "'. Supported values are: 'function'. (Only function tools "
                                     "are available on this server.)",
                                 param + ".type", "invalid_value"));
  }
}

// A function name: ^[a-zA-Z0-9_-]{1,64}$, in OpenAI's words when it is not.
void check_function_name(FieldReader& r, const std::string& name, const std::string& param) {
  if (!r.ok()) return;
  if (name.empty()) {
    r.fail(ApiError::bad_request("Invalid '" + param +
                                     "': empty string. Expected a string with minimum length 1, "
                                     "but got an empty string instead.",
                                 param, "empty_string"));
  } else if (name.size() > kMaxFunctionNameLength) {
    r.fail(ApiError::bad_request(
        "Invalid '" + param + "': string too long. Expected a string with maximum length " +
            std::to_string(kMaxFunctionNameLength) + ", but got a string with length " +
            std::to_string(name.size()) + " instead.",
        param, "string_above_max_length"));
  } else if (!std::all_of(name.begin(), name.end(), [](char c) {
               return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-';
             })) {
    r.fail(ApiError::bad_request("Invalid '" + param +
                                     "': string does not match pattern. Expected a string that "
                                     "matches the pattern '^[a-zA-Z0-9_-]{1,64}$'.",
                                 param, "invalid_value"));
  }
}

// One entry of an assistant message's tool_calls: {"id", "type": "function", "function":
// {"name", "arguments"}}, the arguments the JSON text of an object.
std::optional<ToolCall> read_tool_call(FieldReader& r, const json& value,
                                       const std::string& param) {
  if (!r.ok()) return std::nullopt;
  if (!value.is_object()) {
    r.fail(detail::invalid_type(param, "an object", value));
    return std::nullopt;
  }
  only_keys(r, value, param, {"id", "type", "function"});
  expect_function_type(r, value, param);
  ToolCall call;
  if (const json* id = required(r, value, param, "id")) {
    if (auto text = r.string(*id, param + ".id")) call.id = std::move(*text);
  }
  const json* function = required(r, value, param, "function");
  if (!function) return std::nullopt;
  const std::string fparam = param + ".function";
  if (!function->is_object()) {
    r.fail(detail::invalid_type(fparam, "an object", *function));
    return std::nullopt;
  }
  only_keys(r, *function, fparam, {"name", "arguments"});
  if (const json* name = required(r, *function, fparam, "name")) {
    if (auto text = r.string(*name, fparam + ".name")) call.name = std::move(*text);
  }
  if (const json* arguments = required(r, *function, fparam, "arguments")) {
    if (auto text = r.string(*arguments, fparam + ".arguments")) call.arguments = std::move(*text);
  }
  if (!r.ok()) return std::nullopt;
  // chat_messages_json hands the arguments to the chat template as an object.
  const auto parsed = detail::parse_json_text(call.arguments);
  if (!parsed || !parsed->is_object()) {
    const std::string got = parsed ? "the JSON text of " + detail::describe_type(json(*parsed))
                                   : "text that does not parse as JSON";
    r.fail(ApiError::bad_request("Invalid '" + fparam +
                                     ".arguments': expected the JSON text of an object (the "
                                     "function's arguments, e.g. \"{}\"), but got " +
                                     got + " instead.",
                                 fparam + ".arguments", "invalid_value"));
    return std::nullopt;
  }
  return call;
}

std::optional<ChatMessage> read_message(FieldReader& r, const json& message, size_t index) {
  const std::string param = at("messages", index);
  if (!message.is_object()) {
    r.fail(detail::invalid_type(param, "an object", message));
    return std::nullopt;
  }
  const json& role_value = member(message, "role");
  if (role_value.is_null()) {
    r.fail(detail::missing_parameter(param + ".role"));
    return std::nullopt;
  }
  auto role = r.string(role_value, param + ".role");
  if (!role) return std::nullopt;
  if (*role == "function") {
    r.fail(
        ApiError::bad_request("Invalid value: 'function'. Messages with the deprecated role "
                              "'function' are not supported; answer tool calls with "
                              "role 'tool' and 'tool_call_id'.",
                              param + ".role", "unsupported_value"));
    return std::nullopt;
  }
  if (*role != "system" && *role != "user" && *role != "assistant" && *role != "developer" &&
      *role != "tool") {
    r.fail(ApiError::bad_request("Invalid value: '" + *role +
                                     "'. Supported values are: 'system', 'developer', 'user', "
                                     "'assistant' and 'tool'.",
                                 param + ".role", "invalid_value"));
    return std::nullopt;
  }
  const bool assistant = *role == "assistant";
  const bool tool = *role == "tool";

  for (const auto& [key, value] : message.items()) {
    if (key == "role" || key == "content" || key == "name") continue;
    if (assistant && key == "refusal") {
      (void)r.string(value, param + ".refusal");  // earlier answers' refusals: history only
      continue;
    }
    if (assistant && key == "tool_calls") continue;         // read below
    if (assistant && key == "reasoning_content") continue;  // read below
    if (tool && key == "tool_call_id") continue;            // read below
    if (assistant && key == "function_call") {
      if (!value.is_null()) {
        r.fail(detail::unsupported_parameter(param + ".function_call",
                                             "The deprecated 'function_call' is not available; "
                                             "use 'tool_calls'."));
      }
      continue;
    }
    if (assistant && key == "audio") {
      if (!value.is_null() && !(value.is_array() && value.empty())) {
        r.fail(detail::unsupported_parameter(param + ".audio"));
      }
      continue;
    }
    r.fail(ApiError::bad_request("Unrecognized argument supplied in '" + param + "': " + key,
                                 param + "." + key, "unknown_parameter"));
  }
  if (!r.ok()) return std::nullopt;

  ChatMessage out;
  out.role = *role == "developer" ? "system" : *role;
  if (assistant) {
    // Calls the assistant made earlier; [] is the same as none.
    const json& calls = member(message, "tool_calls");
    const std::string calls_param = param + ".tool_calls";
    if (!calls.is_null() && !calls.is_array()) {
      r.fail(detail::invalid_type(calls_param, "an array", calls));
      return std::nullopt;
    }
    for (size_t i = 0; calls.is_array() && i < calls.size(); ++i) {
      auto call = read_tool_call(r, calls[i], at(calls_param, i));
      if (!call) return std::nullopt;
      out.tool_calls.push_back(std::move(*call));
    }
  }
  if (tool) {
    const json* id = required(r, message, param, "tool_call_id");
    if (!id) return std::nullopt;
    auto text = r.string(*id, param + ".tool_call_id");
    if (!text) return std::nullopt;
    out.tool_call_id = std::move(*text);
  }
  const json& content = member(message, "content");
  if (content.is_null()) {
    // An assistant message that only calls tools has no text.
    if (out.tool_calls.empty()) {
      r.fail(detail::missing_parameter(param + ".content"));
      return std::nullopt;
    }
  } else {
    auto text = read_content(r, content, param + ".content");
    if (!text) return std::nullopt;
    out.content = std::move(*text);
  }
  if (auto name = r.string(member(message, "name"), param + ".name")) out.name = std::move(*name);
  if (assistant) {
    if (auto thinking =
            r.string(member(message, "reasoning_content"), param + ".reasoning_content"))
      out.reasoning_content = std::move(*thinking);
  }
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

// tools: [{"type": "function", "function": {"name", "description"?, "parameters"?,
// "strict"?}}, ...], at most kMaxTools, names unique. Each function's parameters schema is
// taken from the body parsed again keeping its key order (arguments are generated in it).
std::vector<ToolFunction> read_tools(FieldReader& r, const json& value,
                                     std::string_view body_text) {
  std::vector<ToolFunction> tools;
  if (!r.ok() || value.is_null()) return tools;
  if (!value.is_array()) {
    r.fail(detail::invalid_type("tools", "an array", value));
    return tools;
  }
  if (value.size() > kMaxTools) {
    r.fail(ApiError::bad_request(
        "Invalid 'tools': array too long. Expected an array with maximum length " +
            std::to_string(kMaxTools) + ", but got an array with length " +
            std::to_string(value.size()) + " instead.",
        "tools", "array_above_max_length"));
    return tools;
  }
  std::optional<nlohmann::ordered_json> ordered;  // the body in key order, parsed on demand
  std::map<std::string, size_t> seen;             // name -> index in tools
  for (size_t i = 0; i < value.size() && r.ok(); ++i) {
    const json& tool = value[i];
    const std::string param = at("tools", i);
    if (!tool.is_object()) {
      r.fail(detail::invalid_type(param, "an object", tool));
      break;
    }
    expect_function_type(r, tool, param);
    only_keys(r, tool, param, {"type", "function"});
    const json* function = required(r, tool, param, "function");
    if (!function) break;
    const std::string fparam = param + ".function";
    if (!function->is_object()) {
      r.fail(detail::invalid_type(fparam, "an object", *function));
      break;
    }
    only_keys(r, *function, fparam, {"name", "description", "parameters", "strict"});
    ToolFunction out;
    if (const json* name = required(r, *function, fparam, "name")) {
      if (auto text = r.string(*name, fparam + ".name")) out.name = std::move(*text);
    }
    check_function_name(r, out.name, fparam + ".name");
    if (auto description = r.string(member(*function, "description"), fparam + ".description"))
      out.description = std::move(*description);
    if (auto strict = r.boolean(member(*function, "strict"), fparam + ".strict"))
      out.strict = *strict;
    const json& parameters = member(*function, "parameters");
    if (!parameters.is_null() && !parameters.is_object()) {
      r.fail(detail::invalid_type(fparam + ".parameters", "an object", parameters));
    }
    if (!r.ok()) break;
    if (!parameters.is_null()) {
      if (!ordered) ordered = nlohmann::ordered_json::parse(body_text, nullptr, false);
      out.parameters = ordered->at("tools").at(i).at("function").at("parameters");
    }
    const auto [it, inserted] = seen.emplace(out.name, i);
    if (!inserted) {
      r.fail(ApiError::bad_request("Invalid '" + fparam + ".name': '" + out.name +
                                       "' is already the name of " + at("tools", it->second) +
                                       ". Function names must be unique.",
                                   fparam + ".name", "invalid_value"));
      break;
    }
    tools.push_back(std::move(out));
  }
  if (!r.ok()) tools.clear();
  return tools;
}

// tool_choice: "none", "auto", "required" or {"type": "function", "function": {"name"}}
// naming one of `tools`. Absent or null: "auto" with tools, "none" without.
ToolChoice read_tool_choice(FieldReader& r, const json& value,
                            const std::vector<ToolFunction>& tools) {
  ToolChoice out;
  out.mode = tools.empty() ? ToolChoice::Mode::kNone : ToolChoice::Mode::kAuto;
  if (!r.ok() || value.is_null()) return out;
  const std::string param = "tool_choice";
  if (value.is_string()) {
    const std::string mode = value.get<std::string>();
    if (mode == "none") {
      out.mode = ToolChoice::Mode::kNone;
    } else if (mode == "auto") {
      out.mode = ToolChoice::Mode::kAuto;
    } else if (mode == "required") {
      out.mode = ToolChoice::Mode::kRequired;
    } else {
      r.fail(ApiError::bad_request(
          "Invalid value: '" + mode + "'. Supported values are: 'none', 'auto', and 'required'.",
          param, "invalid_value"));
      return out;
    }
  } else if (value.is_object()) {
    expect_function_type(r, value, param);
    only_keys(r, value, param, {"type", "function"});
    const json* function = required(r, value, param, "function");
    if (!function) return out;
    const std::string fparam = param + ".function";
    if (!function->is_object()) {
      r.fail(detail::invalid_type(fparam, "an object", *function));
      return out;
    }
    only_keys(r, *function, fparam, {"name"});
    const json* name = required(r, *function, fparam, "name");
    if (!name) return out;
    auto text = r.string(*name, fparam + ".name");
    if (!text) return out;
    out.mode = ToolChoice::Mode::kFunction;
    out.function = std::move(*text);
  } else {
    r.fail(detail::invalid_type(param, "a string or an object", value));
    return out;
  }
  if (out.mode != ToolChoice::Mode::kNone && tools.empty()) {
    r.fail(ApiError::bad_request(
        "Invalid value for 'tool_choice': 'tool_choice' is only allowed when 'tools' are "
        "specified.",
        param, "invalid_value"));
    return out;
  }
  if (out.mode == ToolChoice::Mode::kFunction &&
      std::none_of(tools.begin(), tools.end(),
                   [&](const ToolFunction& t) { return t.name == out.function; })) {
    r.fail(ApiError::bad_request("Invalid value for 'tool_choice': function '" + out.function +
                                     "' is not one of the functions in 'tools'.",
                                 param, "invalid_value"));
  }
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
  request.tools = read_tools(r, member(body, "tools"), body_text);
  request.tool_choice = read_tool_choice(r, member(body, "tool_choice"), request.tools);
  if (auto v = r.boolean(body, "parallel_tool_calls")) request.parallel_tool_calls = *v;
  if (!r.ok()) return r.error();
  return request;
}

nlohmann::ordered_json chat_messages_json(const std::vector<ChatMessage>& messages) {
  nlohmann::ordered_json out = nlohmann::ordered_json::array();
  for (const ChatMessage& m : messages) {
    nlohmann::ordered_json message;
    message["role"] = m.role;
    // An assistant turn that only calls tools has no text: null, as OpenAI's API and the
    // templates written for it have it.
    if (m.content.empty() && !m.tool_calls.empty()) {
      message["content"] = nullptr;
    } else {
      message["content"] = m.content;
    }
    if (!m.name.empty()) message["name"] = m.name;
    if (!m.tool_calls.empty()) {
      nlohmann::ordered_json calls = nlohmann::ordered_json::array();
      for (const ToolCall& call : m.tool_calls) {
        // The arguments as an object (templates write `arguments | tojson` or iterate them);
        // text that is no JSON object (not from the parser) is passed on as the string.
        auto arguments = detail::parse_json_text(call.arguments);
        nlohmann::ordered_json function;
        function["name"] = call.name;
        function["arguments"] = arguments && arguments->is_object()
                                    ? std::move(*arguments)
                                    : nlohmann::ordered_json(call.arguments);
        nlohmann::ordered_json entry;
        entry["id"] = call.id;
        entry["type"] = "function";
        entry["function"] = std::move(function);
        calls.push_back(std::move(entry));
      }
      message["tool_calls"] = std::move(calls);
    }
    if (m.role == "tool") message["tool_call_id"] = m.tool_call_id;
    // Reasoning templates (Qwen3) read it to render an earlier turn's thinking.
    if (!m.reasoning_content.empty()) message["reasoning_content"] = m.reasoning_content;
    out.push_back(std::move(message));
  }
  return out;
}

}  // namespace shardserve::api
