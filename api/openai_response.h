// Builders for OpenAI response bodies and stream chunks, in OpenAI's exact shapes and key
// order (checked against the official JSON schemas by tests/api/test_schemas.py):
//
//   chat.completion          {id, object, created, model, system_fingerprint,
//                             choices: [{index, message: {role: "assistant", content,
//                             tool_calls?, refusal: null}, logprobs, finish_reason}], usage}
//   chat.completion.chunk    {id, object, created, model, system_fingerprint,
//                             choices: [{index, delta, logprobs, finish_reason}], usage?}
//   text_completion          {id, object, created, model, system_fingerprint,
//                             choices: [{text, index, logprobs, finish_reason}], usage}
//   list / model             {object: "list", data: [{id, object: "model", created, owned_by}]}
//
// A chat stream is: chat_chunk_role() for each choice (delta {role: "assistant",
// content: ""}), chat_chunk_content() per piece of text, chat_chunk_finish() (empty delta,
// finish_reason set) per choice, then chat_chunk_usage() (choices: []) when include_usage.
// A choice that calls tools sends, per call i (0, 1, ... within the choice, in order),
// chat_chunk_tool_call() once (its id and name, arguments "") and then
// chat_chunk_tool_arguments() per piece of the arguments' JSON text; text content, if any,
// comes before the first call. It finishes with FinishReason::ToolCalls.
// When include_usage is set every other chunk carries "usage": null, as OpenAI sends it.
// A completions stream is completion_chunk() per piece (the last one of a choice carries its
// finish_reason), then completion_chunk_usage() when include_usage. Frame each with sse_data()
// and end with sse_done() (api/sse.h).
//
// Token texts are raw bytes and may be partial UTF-8; serialise with dump_json() or sse_data(),
// which replace invalid bytes instead of throwing. Non-finite log-probabilities are written
// as -9999.0 (OpenAI's value for "practically impossible").
//
// Pure functions: thread-safe, no I/O.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "api/openai_request.h"

namespace shardserve::api {

using ordered_json = nlohmann::ordered_json;

// Why a choice ended. Stop: end-of-sequence token or a stop string; Length: max_tokens or the
// context length; ToolCalls: the model called tools (chat only).
enum class FinishReason { Stop, Length, ToolCalls };
std::string_view to_string(FinishReason reason);  // "stop", "length", "tool_calls"

// Fields every response object of one request shares.
struct ResponseMeta {
  std::string id;       // "chatcmpl-..." / "cmpl-..." (api/request_id.h)
  int64_t created = 0;  // Unix seconds, the same in every chunk of a stream
  std::string model;    // the model name as the client asked for it
  std::string system_fingerprint = "fp_shardserve";  // omitted when empty
  bool include_usage = false;                        // streams: stream_options.include_usage
};

struct Usage {
  int64_t prompt_tokens = 0;
  int64_t completion_tokens = 0;  // over all choices
  int64_t cached_tokens = 0;      // prompt tokens whose K/V came from the prefix cache
};

// One alternative token and its log-probability.
struct TopLogprob {
  std::string token;  // raw bytes of the token's text
  double logprob = 0.0;
};

// One generated token with its log-probability and the top alternatives, best first.
struct TokenLogprobs {
  std::string token;  // raw bytes of the token's text (may be a partial UTF-8 sequence)
  double logprob = 0.0;
  std::vector<TopLogprob> top;
  // Completions only: byte offset of the token's text in the choice's text (TextStream's
  // TokenPiece::text_offset). -1: the previous token's offset plus its size.
  int64_t text_offset = -1;
  // Completions with echo: the prompt's first token, which nothing predicts; its logprob and
  // top_logprobs are null.
  bool unscored = false;
};

// --- chat ---------------------------------------------------------------------------------

struct ChatChoice {
  int index = 0;
  std::string content;                       // text before or instead of tool calls
  FinishReason finish = FinishReason::Stop;  // ToolCalls when tool_calls is not empty
  // nullopt: "logprobs": null (not requested); else {"content": [...], "refusal": null}.
  std::optional<std::vector<TokenLogprobs>> logprobs;
  // The calls the model made, in order: ids from new_tool_call_id() (api/request_id.h),
  // arguments their JSON text as generated.
  std::vector<ToolCall> tool_calls;
  // A reasoning model's thinking, apart from the content (message.reasoning_content, as vLLM
  // and DeepSeek's API return it); omitted when empty.
  std::string reasoning_content;
};

// The message of a choice is {role: "assistant", content, refusal: null}; with tool calls
// {role, content, tool_calls: [{id, type: "function", function: {name, arguments}}], refusal},
// content null when the text is empty (OpenAI's shape). Without tool calls an empty text
// stays "".
ordered_json chat_completion(const ResponseMeta& meta, std::span<const ChatChoice> choices,
                             const Usage& usage);

// First chunk of a choice: delta {role: "assistant", content: ""}.
ordered_json chat_chunk_role(const ResponseMeta& meta, int index);
// A piece of a reasoning model's thinking: delta {reasoning_content: text}.
ordered_json chat_chunk_reasoning(const ResponseMeta& meta, int index, std::string_view text);
// A piece of text; `logprobs` for the tokens in it when requested (nullptr: null).
ordered_json chat_chunk_content(const ResponseMeta& meta, int index, std::string_view text,
                                const std::vector<TokenLogprobs>* logprobs = nullptr);
// Start of tool call `call_index` of choice `index`: delta {tool_calls: [{index: call_index,
// id, type: "function", function: {name, arguments: ""}}]}.
ordered_json chat_chunk_tool_call(const ResponseMeta& meta, int index, int call_index,
                                  std::string_view id, std::string_view name);
// A piece of the arguments' JSON text of tool call `call_index`: delta {tool_calls: [{index:
// call_index, function: {arguments: piece}}]}.
ordered_json chat_chunk_tool_arguments(const ResponseMeta& meta, int index, int call_index,
                                       std::string_view piece);
// Last chunk of a choice: empty delta and its finish_reason (ToolCalls after tool calls).
ordered_json chat_chunk_finish(const ResponseMeta& meta, int index, FinishReason finish);
// After every choice finished, when include_usage: choices [] and the usage.
ordered_json chat_chunk_usage(const ResponseMeta& meta, const Usage& usage);

// Chat logprobs object: {"content": [{token, logprob, bytes, top_logprobs: [{token, logprob,
// bytes}]}], "refusal": null}.
ordered_json chat_logprobs(std::span<const TokenLogprobs> tokens);

// --- text completions ---------------------------------------------------------------------

struct CompletionChoice {
  int index = 0;
  std::string text;
  FinishReason finish = FinishReason::Stop;
  // nullopt: "logprobs": null; else {tokens, token_logprobs, top_logprobs, text_offset}.
  std::optional<std::vector<TokenLogprobs>> logprobs;
};

ordered_json completion(const ResponseMeta& meta, std::span<const CompletionChoice> choices,
                        const Usage& usage);

// A piece of a streamed choice. `finish` is set on the choice's last chunk (its text may be
// empty). `logprobs` (nullptr: null) covers the tokens of this piece; `text_offset` is the
// byte offset of the piece in the choice's whole text.
ordered_json completion_chunk(const ResponseMeta& meta, int index, std::string_view text,
                              std::optional<FinishReason> finish,
                              const std::vector<TokenLogprobs>* logprobs = nullptr,
                              int64_t text_offset = 0);
// After every choice finished, when include_usage: choices [] and the usage.
ordered_json completion_chunk_usage(const ResponseMeta& meta, const Usage& usage);

// Completions logprobs object: {tokens, token_logprobs, top_logprobs: [{token: logprob}],
// text_offset}. Offsets are the tokens' own text_offset where set, else counted in bytes from
// `text_offset` (the first token) on.
ordered_json completion_logprobs(std::span<const TokenLogprobs> tokens, int64_t text_offset = 0);

// --- models -------------------------------------------------------------------------------

struct ModelInfo {
  std::string id;
  int64_t created = 0;  // Unix seconds
  std::string owned_by = "shardserve";
  int64_t max_model_len = 0;  // the context length (vLLM's field); 0: omitted
};

ordered_json model_object(const ModelInfo& model);
ordered_json model_list(std::span<const ModelInfo> models);

// {prompt_tokens, completion_tokens, total_tokens}.
ordered_json usage_object(const Usage& usage);

}  // namespace shardserve::api
