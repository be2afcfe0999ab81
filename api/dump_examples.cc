// api_dump_examples: prints example response bodies, stream chunks and error bodies built by
// api/, one JSON object per line: {"schema": "<name in openai_schemas.json>", "name": "...",
// "body": {...}}. tests/api/test_schemas.py validates each body against its official schema.
// A schema name ending in "#stream" is a completions stream chunk, checked against the
// non-stream schema with finish_reason and usage allowed to be null (the spec has no chunk
// schema for that endpoint; OpenAI sends null there until the end). "#base64" is an embedding
// list with encoding_format "base64": each embedding a base64 string (the spec only describes
// the float form); its values must decode to those of the float example of the same name with
// "(float)" in place of "(base64)".
#include <cstdio>
#include <limits>
#include <string>
#include <vector>

#include "api/embedding_request.h"
#include "api/embedding_response.h"
#include "api/openai_error.h"
#include "api/openai_request.h"
#include "api/openai_response.h"
#include "api/request_id.h"
#include "api/sse.h"

namespace {

using namespace shardserve::api;

void emit(const std::string& schema, const std::string& name, const ordered_json& body) {
  ordered_json line;
  line["schema"] = schema;
  line["name"] = name;
  line["body"] = body;
  std::printf("%s\n", dump_json(line).c_str());
}

std::vector<TokenLogprobs> example_logprobs() {
  return {{"Hello", -0.25, {{"Hello", -0.25}, {"Hi", -1.75}}},
          {" wor", -0.5, {{" wor", -0.5}, {" there", -2.0}}},
          {"\xe2\x82", -std::numeric_limits<double>::infinity(), {}},  // partial UTF-8, impossible
          {"ld", -0.125, {{"ld", -0.125}}}};
}

void chat_examples() {
  ResponseMeta meta{new_chat_completion_id(), 1700000000, "smollm2-135m-instruct"};
  const Usage usage{12, 7};
  const std::vector<ChatChoice> plain = {{0, "Hello world", FinishReason::Stop, std::nullopt},
                                         {1, "Hi", FinishReason::Length, std::nullopt}};
  emit("CreateChatCompletionResponse", "chat plain", chat_completion(meta, plain, usage));
  const std::vector<ChatChoice> with_logprobs = {
      {0, "Hello world", FinishReason::Stop, example_logprobs()}};
  emit("CreateChatCompletionResponse", "chat logprobs",
       chat_completion(meta, with_logprobs, usage));
  const std::vector<ChatChoice> empty_logprobs = {
      {0, "", FinishReason::Length, std::vector<TokenLogprobs>{}}};
  emit("CreateChatCompletionResponse", "chat empty", chat_completion(meta, empty_logprobs, {3, 0}));
  ResponseMeta no_fp = meta;
  no_fp.system_fingerprint.clear();
  emit("CreateChatCompletionResponse", "chat no fingerprint", chat_completion(no_fp, plain, usage));

  for (bool include_usage : {false, true}) {
    meta.include_usage = include_usage;
    const std::string tag = include_usage ? " (include_usage)" : "";
    const auto logprobs = example_logprobs();
    emit("CreateChatCompletionStreamResponse", "chat chunk role" + tag, chat_chunk_role(meta, 0));
    emit("CreateChatCompletionStreamResponse", "chat chunk content" + tag,
         chat_chunk_content(meta, 0, "Hello"));
    emit("CreateChatCompletionStreamResponse", "chat chunk content logprobs" + tag,
         chat_chunk_content(meta, 1, "Hello world", &logprobs));
    emit("CreateChatCompletionStreamResponse", "chat chunk finish stop" + tag,
         chat_chunk_finish(meta, 0, FinishReason::Stop));
    emit("CreateChatCompletionStreamResponse", "chat chunk finish length" + tag,
         chat_chunk_finish(meta, 1, FinishReason::Length));
  }
  emit("CreateChatCompletionStreamResponse", "chat chunk usage", chat_chunk_usage(meta, usage));
}

void chat_tool_call_examples() {
  ResponseMeta meta{new_chat_completion_id(), 1700000000, "qwen2.5-0.5b-instruct"};
  const Usage usage{40, 25};
  std::vector<ChatChoice> calls(2);
  calls[0].finish = FinishReason::ToolCalls;
  calls[0].tool_calls = {{new_tool_call_id(), "get_weather", R"({"city":"Paris","unit":"c"})"},
                         {new_tool_call_id(), "get_time", "{}"}};
  calls[1].index = 1;
  calls[1].content = "Let me look that up.";
  calls[1].finish = FinishReason::ToolCalls;
  calls[1].tool_calls = {{new_tool_call_id(), "get_weather", R"({"city":"Oslo"})"}};
  emit("CreateChatCompletionResponse", "chat tool calls", chat_completion(meta, calls, usage));
  std::vector<ChatChoice> with_logprobs(1);
  with_logprobs[0].finish = FinishReason::ToolCalls;
  with_logprobs[0].logprobs = std::vector<TokenLogprobs>{};
  with_logprobs[0].tool_calls = {{new_tool_call_id(), "get_time", "{}"}};
  emit("CreateChatCompletionResponse", "chat tool calls logprobs",
       chat_completion(meta, with_logprobs, usage));
  std::vector<ChatChoice> thinking(1);
  thinking[0].content = "It is 4.";
  thinking[0].reasoning_content = "2 + 2: two pairs make four.";
  emit("CreateChatCompletionResponse#reasoning", "chat reasoning_content",
       chat_completion(meta, thinking, usage));
  emit("CreateChatCompletionStreamResponse#reasoning", "chat chunk reasoning_content",
       chat_chunk_reasoning(meta, 0, "two pairs"));

  // A streamed choice that calls two tools: role, the calls' starts and argument pieces,
  // finish "tool_calls".
  for (bool include_usage : {false, true}) {
    meta.include_usage = include_usage;
    const std::string tag = include_usage ? " (include_usage)" : "";
    const std::string schema = "CreateChatCompletionStreamResponse";
    emit(schema, "chat tool chunk role" + tag, chat_chunk_role(meta, 0));
    emit(schema, "chat tool chunk start" + tag,
         chat_chunk_tool_call(meta, 0, 0, new_tool_call_id(), "get_weather"));
    emit(schema, "chat tool chunk arguments" + tag,
         chat_chunk_tool_arguments(meta, 0, 0, R"({"city": ")"));
    emit(schema, "chat tool chunk arguments end" + tag,
         chat_chunk_tool_arguments(meta, 0, 0, R"(Paris"})"));
    emit(schema, "chat tool chunk second start" + tag,
         chat_chunk_tool_call(meta, 0, 1, new_tool_call_id(), "get_time"));
    emit(schema, "chat tool chunk second arguments" + tag,
         chat_chunk_tool_arguments(meta, 0, 1, "{}"));
    emit(schema, "chat tool chunk finish tool_calls" + tag,
         chat_chunk_finish(meta, 0, FinishReason::ToolCalls));
  }
}

void completion_examples() {
  ResponseMeta meta{new_completion_id(), 1700000000, "smollm2-135m-instruct"};
  const Usage usage{5, 9};
  const std::vector<CompletionChoice> plain = {
      {0, " is a test", FinishReason::Length, std::nullopt},
      {1, "", FinishReason::Stop, std::nullopt}};
  emit("CreateCompletionResponse", "completion plain", completion(meta, plain, usage));
  const std::vector<CompletionChoice> with_logprobs = {
      {0, "Hello world", FinishReason::Stop, example_logprobs()}};
  emit("CreateCompletionResponse", "completion logprobs", completion(meta, with_logprobs, usage));
  std::vector<TokenLogprobs> echoed = {{"Hello", 0, {}}, {" world", -1.5, {{" world", -1.5}}}};
  echoed[0].unscored = true;
  const std::vector<CompletionChoice> echo = {{0, "Hello world", FinishReason::Length, echoed}};
  emit("CreateCompletionResponse#echo", "completion echo logprobs", completion(meta, echo, usage));

  for (bool include_usage : {false, true}) {
    meta.include_usage = include_usage;
    const std::string tag = include_usage ? " (include_usage)" : "";
    const auto logprobs = example_logprobs();
    emit("CreateCompletionResponse#stream", "completion chunk" + tag,
         completion_chunk(meta, 0, " is", std::nullopt));
    emit("CreateCompletionResponse#stream", "completion chunk logprobs" + tag,
         completion_chunk(meta, 0, "Hello world", std::nullopt, &logprobs, 3));
    emit("CreateCompletionResponse#stream", "completion chunk last" + tag,
         completion_chunk(meta, 1, "", FinishReason::Length));
  }
  emit("CreateCompletionResponse", "completion chunk usage", completion_chunk_usage(meta, usage));
}

void model_examples() {
  const std::vector<ModelInfo> models = {{"smollm2-135m-instruct", 1700000000, "shardserve"},
                                         {"all-minilm-l6-v2", 1700000001, "shardserve"}};
  emit("Model", "model", model_object(models[0]));
  emit("ListModelsResponse", "model list", model_list(models));
  emit("ListModelsResponse", "empty model list", model_list({}));
}

void embedding_examples() {
  // Rows of 6, 5 and 4 floats: base64 of 24 bytes (no padding), 20 ("=") and 16 ("==").
  const std::vector<float> two_rows = {0.1f,  -0.2f, 0.0123f, -0.0f, 1.0f / 3.0f, 1e-45f,
                                       0.25f, 1e20f, -1e-20f, 0.5f,  -1.0f,       2.0f};
  const std::vector<float> one_row = {0.70710677f, -0.70710677f, 0.0f, 3.4028235e38f, 1e-7f};
  // 7.038531e-26f: its shortest decimal would narrow to the next float through double.
  const std::vector<float> four = {0.5f, -0.5f, 7.038531e-26f, 1e-3f};
  for (bool base64 : {false, true}) {
    const std::string schema =
        base64 ? "CreateEmbeddingResponse#base64" : "CreateEmbeddingResponse";
    const std::string tag = base64 ? " (base64)" : " (float)";
    emit(schema, "embedding list" + tag,
         embedding_list("all-minilm-l6-v2", two_rows, 6, base64, 9));
    emit(schema, "embedding one" + tag, embedding_list("all-minilm-l6-v2", one_row, 5, base64, 3));
    emit(schema, "embedding four" + tag, embedding_list("all-minilm-l6-v2", four, 4, base64, 2));
  }
  emit("CreateEmbeddingResponse", "embedding empty",
       embedding_list("all-minilm-l6-v2", {}, 4, false, 0));
}

void error_examples() {
  const std::vector<std::pair<std::string, ApiError>> errors = {
      {"bad request", ApiError::bad_request("Invalid 'n'.", "n", "integer_above_max_value")},
      {"bad request no param", ApiError::bad_request("Bad.")},
      {"unauthorized", ApiError::unauthorized()},
      {"not found", ApiError::not_found("No route /v2/x.")},
      {"model not found", ApiError::model_not_found("gpt-5")},
      {"method not allowed", ApiError::method_not_allowed("GET", "/v1/chat/completions")},
      {"payload too large", ApiError::payload_too_large(1 << 20)},
      {"rate limited", ApiError::rate_limited()},
      {"server error", ApiError::server_error()},
      {"unavailable", ApiError::unavailable()},
  };
  for (const auto& [name, error] : errors) emit("ErrorResponse", name, error.to_json());

  // Errors from the parsers, as the HTTP layer would send them.
  const std::vector<std::pair<std::string, std::string>> chat_bodies = {
      {"invalid json", "{"},
      {"wrong type",
       R"({"model": "m", "messages": [{"role": "user", "content": "hi"}], "temperature": "hot"})"},
      {"unsupported",
       R"({"model": "m", "messages": [{"role": "user", "content": "hi"}], "functions": [{}]})"},
      {"bad tool",
       R"({"model": "m", "messages": [{"role": "user", "content": "hi"}], "tools": [{}]})"},
      {"bad tool name",
       R"({"model": "m", "messages": [{"role": "user", "content": "hi"}],
           "tools": [{"type": "function", "function": {"name": "a b"}}]})"},
      {"tool_choice without tools",
       R"({"model": "m", "messages": [{"role": "user", "content": "hi"}],
           "tool_choice": "required"})"},
      {"bad tool call arguments",
       R"({"model": "m", "messages": [{"role": "assistant", "tool_calls": [{"id": "c",
           "type": "function", "function": {"name": "f", "arguments": "{"}}]}]})"},
      {"unknown key",
       R"({"model": "m", "messages": [{"role": "user", "content": "hi"}], "foo": 1})"},
  };
  for (const auto& [name, body] : chat_bodies) {
    auto parsed = parse_chat_completion_request(body);
    if (!parsed.ok()) emit("ErrorResponse", "chat request " + name, parsed.error().to_json());
  }
  auto completion = parse_completion_request(R"({"model": "m", "prompt": [1, "a"]})");
  if (!completion.ok())
    emit("ErrorResponse", "completion request mixed prompt", completion.error().to_json());

  const std::vector<std::pair<std::string, std::string>> embedding_bodies = {
      {"missing input", R"({"model": "m"})"},
      {"empty string", R"({"model": "m", "input": ["a", ""]})"},
      {"mixed input", R"({"model": "m", "input": ["a", 1]})"},
      {"negative token id", R"({"model": "m", "input": [[1, -2]]})"},
      {"bad encoding_format", R"({"model": "m", "input": "a", "encoding_format": "hex"})"},
      {"unknown key", R"({"model": "m", "input": "a", "temperature": 1})"},
  };
  for (const auto& [name, body] : embedding_bodies) {
    auto parsed = parse_embedding_request(body);
    if (!parsed.ok()) emit("ErrorResponse", "embedding request " + name, parsed.error().to_json());
  }
}

}  // namespace

int main() {
  chat_examples();
  chat_tool_call_examples();
  completion_examples();
  model_examples();
  embedding_examples();
  error_examples();
  return 0;
}
