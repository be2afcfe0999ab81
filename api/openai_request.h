// Parsing and validation of OpenAI request bodies: POST /v1/chat/completions and
// POST /v1/completions.
//
// The parsers take the raw body and return either a fully validated request or the ApiError
// (status 400) to send back. They never throw and never accept a request half-understood:
//   - malformed JSON, non-UTF-8 text, a body that is not an object, nesting deeper than
//     kMaxJsonDepth -> 400 naming the problem;
//   - a missing required field, a wrong type, a value out of range -> 400 with `param` naming
//     the field (e.g. "temperature", "messages[2].content[0].type") and a message in OpenAI's
//     words ("Invalid type for 'temperature': expected a number, but got a string instead.");
//   - an OpenAI parameter this server does not implement (the deprecated functions and
//     function_call, audio, suffix, ...) -> 400 "Unsupported parameter: 'functions' ..." (code
//     "unsupported_parameter"), unless its value is null or the neutral value (functions [],
//     function_call "none", best_of equal to n, suffix "", ...);
//   - any other key -> 400 "Unrecognized request argument supplied: <key>" (as OpenAI).
// A field sent as JSON null means "not set" (its default), as in OpenAI's API.
//
// Tool calling (chat), validated as OpenAI does, each error naming its param:
//   - tools: up to 128 of {"type": "function", "function": {"name", "description"?,
//     "parameters"?, "strict"?}}; names match ^[a-zA-Z0-9_-]{1,64}$ and are unique; parameters
//     is an object (a JSON schema, kept in the body's key order); unknown keys are refused
//     ("Unrecognized argument supplied in 'tools[0].function': x"). [] is the same as no tools.
//   - tool_choice: "none" | "auto" | "required" | {"type": "function", "function": {"name"}}
//     naming one of the tools; anything but "none" needs tools ("'tool_choice' is only allowed
//     when 'tools' are specified"). Default: "auto" with tools, "none" without.
//   - parallel_tool_calls: a boolean, default true.
//   - messages: an assistant message may carry "tool_calls" [{"id", "type": "function",
//     "function": {"name", "arguments"}}] (arguments: the JSON text of an object, else 400),
//     and then "content" may be null or absent; a "tool" message needs "tool_call_id" and
//     "content". The order of calls and answers in the history is not checked.
//
// What is left to the caller (it needs the model): whether `model` is served (404
// ApiError::model_not_found), token ids in `prompt` and `logit_bias` below the vocabulary
// size, and prompt + max_tokens within the context length.
//
// Pure functions: thread-safe, no I/O.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include <nlohmann/json.hpp>

#include "api/openai_error.h"

namespace shardserve::api {

inline constexpr int kMaxJsonDepth = 64;          // objects/arrays nested deeper are rejected
inline constexpr int kMaxChoices = 16;            // n is in [1, kMaxChoices]
inline constexpr int kMaxStops = 4;               // stop strings per request
inline constexpr int kMaxTopLogprobs = 20;        // chat top_logprobs in [0, 20]
inline constexpr int kMaxCompletionLogprobs = 5;  // completions logprobs in [0, 5]
inline constexpr int kMaxPrompts = 64;            // prompts in one completions request
inline constexpr int kMaxChoicesPerRequest = 64;  // completions: prompts x n

// Everything that shapes generation, shared by both endpoints; the coordinator maps it to
// SamplingParams + SequenceRequest. The defaults are what an absent (or null) field means.
struct GenerationOptions {
  // Tokens to generate at most per choice. nullopt: until end-of-sequence or the context is
  // full. Chat: max_completion_tokens, else max_tokens (>= 1). Completions: max_tokens (>= 0).
  // (OpenAI's legacy completions endpoint defaults to 16; we default to "until done" for both.)
  std::optional<int64_t> max_tokens;
  double temperature = 1.0;         // [0, 2]; 0 means greedy
  double top_p = 1.0;               // (0, 1]; 1 means off
  int32_t top_k = 0;                // extension; >= 0, 0 means off (-1 is accepted as 0)
  double min_p = 0.0;               // extension; [0, 1], 0 means off
  double repetition_penalty = 1.0;  // extension; (0, 10], 1 means off
  double presence_penalty = 0.0;    // [-2, 2]
  double frequency_penalty = 0.0;   // [-2, 2]
  // Token id (>= 0, not yet checked against the vocabulary) -> bias in [-100, 100],
  // sorted by token id, ids unique.
  std::vector<std::pair<int32_t, double>> logit_bias;
  std::optional<int64_t> seed;    // nullopt: the server picks one
  int n = 1;                      // choices per prompt, [1, kMaxChoices]
  std::vector<std::string> stop;  // up to kMaxStops non-empty strings
  bool ignore_eos = false;        // extension: keep generating past end-of-sequence tokens

  // Log-probabilities. Chat: logprobs (bool) + top_logprobs (0..20). Completions:
  // logprobs = k (0..5) sets logprobs = true and top_logprobs = k.
  bool logprobs = false;
  int top_logprobs = 0;
  // Completions: each choice's text starts with its prompt's text, and with logprobs its
  // logprobs start with the prompt's tokens (the first one's logprob null).
  bool echo = false;

  bool stream = false;
  bool include_usage = false;  // stream_options.include_usage; only set when stream is true
  std::string user;            // end-user id, for logs only

  // Prefix caching. cache_salt (extension, as vLLM's): requests share cached prompt prefixes
  // only with requests of the same salt (""). prompt_cache_key (OpenAI's): requests with the
  // same key are routed to the same replica where possible.
  std::string cache_salt;
  std::string prompt_cache_key;
};

// A call of a function: in an assistant message of the history, or in a response.
struct ToolCall {
  std::string id;         // "call_..." (responses: api/request_id.h), as the client sent it
  std::string name;       // the function's name
  std::string arguments;  // JSON text of the arguments object
};

// One chat message with its text. Roles are "system" (also for "developer"), "user",
// "assistant" or "tool". Content given as an array of text parts is joined with "\n".
struct ChatMessage {
  std::string role;
  std::string content;               // "" for an assistant message with only tool calls
  std::string name;                  // "" when absent
  std::vector<ToolCall> tool_calls;  // assistant: the calls it made
  std::string tool_call_id;          // tool: the call this message answers
  std::string reasoning_content;     // assistant: its thinking (reasoning models), if sent back
};

// A function the model may call (tools[i] with type "function").
struct ToolFunction {
  std::string name;                   // [a-zA-Z0-9_-], 1..64 characters, unique in `tools`
  std::string description;            // "" when absent
  nlohmann::ordered_json parameters;  // JSON schema of the arguments (body key order); null:
                                      // any object
  bool strict = false;
};

// tool_choice: "none", "auto", "required", or {"type": "function", "function": {"name"}}.
struct ToolChoice {
  enum class Mode { kNone, kAuto, kRequired, kFunction };
  Mode mode = Mode::kAuto;  // the default when tools are given (kNone without tools)
  std::string function;     // kFunction: the name, one of the tools
};

// response_format: plain text, any JSON object, or JSON that validates against a schema
// (compiled to a grammar by api/json_schema_grammar.h; the output always parses and validates).
struct ResponseFormat {
  enum class Type { kText, kJsonObject, kJsonSchema };
  Type type = Type::kText;
  std::string name;               // json_schema.name: [a-zA-Z0-9_-], 1..64 characters
  nlohmann::ordered_json schema;  // json_schema.schema in the body's key order (null: any object)
  bool strict = false;            // json_schema.strict (the grammar enforces either way)
};

struct ChatCompletionRequest {
  std::string model;
  std::vector<ChatMessage> messages;  // at least one
  GenerationOptions options;
  ResponseFormat response_format;
  std::vector<ToolFunction> tools;  // empty: no tools
  ToolChoice tool_choice;
  bool parallel_tool_calls = true;  // several calls in one answer
};

// One completions prompt: text to tokenize, or token ids (>= 0, not yet checked against the
// vocabulary).
using Prompt = std::variant<std::string, std::vector<int32_t>>;

struct CompletionRequest {
  std::string model;
  // At least one, at most kMaxPrompts, and prompts x n <= kMaxChoicesPerRequest.
  // Choice i*n + j answers prompt i (OpenAI's indexing).
  std::vector<Prompt> prompts;
  GenerationOptions options;
};

// Parses and validates a /v1/chat/completions body.
ApiResult<ChatCompletionRequest> parse_chat_completion_request(std::string_view body);

// The messages as a chat template reads them (ChatTemplate::render's `messages`):
// [{"role", "content"}, ...], with "name" when set. Assistant messages with tool calls carry
// "tool_calls": [{"id", "type": "function", "function": {"name", "arguments"}}] in OpenAI's
// shape, except that "arguments" is the parsed JSON OBJECT, not its text (templates such as
// Qwen's and Llama's write `arguments | tojson` or iterate its items; the object keeps the
// text's key order); "content" is null when such a message has no text. Tool messages carry
// "tool_call_id".
nlohmann::ordered_json chat_messages_json(const std::vector<ChatMessage>& messages);

// Parses and validates a /v1/completions body.
ApiResult<CompletionRequest> parse_completion_request(std::string_view body);

}  // namespace shardserve::api
