#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "api/openai_request.h"

namespace shardserve::api {
namespace {

// A valid chat body with `extra` fields (a JSON fragment like `"n": 2`) appended.
std::string chat(const std::string& extra = "") {
  std::string body = R"({"model": "smol", "messages": [{"role": "user", "content": "Hi"}]})";
  if (!extra.empty()) body.insert(body.size() - 1, ", " + extra);
  return body;
}

ChatCompletionRequest parse_ok(const std::string& body) {
  auto r = parse_chat_completion_request(body);
  EXPECT_TRUE(r.ok()) << body << "\n -> " << (r.ok() ? "" : r.error().message);
  return r.ok() ? r.value() : ChatCompletionRequest{};
}

ApiError parse_error(const std::string& body) {
  auto r = parse_chat_completion_request(body);
  EXPECT_FALSE(r.ok()) << body;
  return r.ok() ? ApiError{} : r.error();
}

bool contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

TEST(ChatRequest, MinimalRequestHasOpenAIDefaults) {
  const auto req = parse_ok(chat());
  EXPECT_EQ(req.model, "smol");
  ASSERT_EQ(req.messages.size(), 1u);
  EXPECT_EQ(req.messages[0].role, "user");
  EXPECT_EQ(req.messages[0].content, "Hi");
  EXPECT_EQ(req.messages[0].name, "");
  const auto& o = req.options;
  EXPECT_FALSE(o.max_tokens.has_value());
  EXPECT_EQ(o.temperature, 1.0);
  EXPECT_EQ(o.top_p, 1.0);
  EXPECT_EQ(o.top_k, 0);
  EXPECT_EQ(o.min_p, 0.0);
  EXPECT_EQ(o.repetition_penalty, 1.0);
  EXPECT_EQ(o.presence_penalty, 0.0);
  EXPECT_EQ(o.frequency_penalty, 0.0);
  EXPECT_TRUE(o.logit_bias.empty());
  EXPECT_FALSE(o.seed.has_value());
  EXPECT_EQ(o.n, 1);
  EXPECT_TRUE(o.stop.empty());
  EXPECT_FALSE(o.ignore_eos);
  EXPECT_FALSE(o.logprobs);
  EXPECT_EQ(o.top_logprobs, 0);
  EXPECT_FALSE(o.stream);
  EXPECT_FALSE(o.include_usage);
  EXPECT_EQ(o.user, "");
}

TEST(ChatRequest, EveryParameterIsRead) {
  const auto req = parse_ok(chat(
      R"("max_tokens": 50, "temperature": 0.5, "top_p": 0.9, "top_k": 40, "min_p": 0.05,
         "repetition_penalty": 1.1, "presence_penalty": -1.5, "frequency_penalty": 2,
         "logit_bias": {"42": -100, "7": 5.5}, "seed": -12345, "n": 3,
         "stop": ["\n\n", "END"], "logprobs": true, "top_logprobs": 20, "stream": true,
         "stream_options": {"include_usage": true}, "user": "u-1", "ignore_eos": true,
         "safety_identifier": "s", "prompt_cache_key": "k")"));
  const auto& o = req.options;
  EXPECT_EQ(o.max_tokens, 50);
  EXPECT_EQ(o.temperature, 0.5);
  EXPECT_EQ(o.top_p, 0.9);
  EXPECT_EQ(o.top_k, 40);
  EXPECT_EQ(o.min_p, 0.05);
  EXPECT_EQ(o.repetition_penalty, 1.1);
  EXPECT_EQ(o.presence_penalty, -1.5);
  EXPECT_EQ(o.frequency_penalty, 2.0);
  const std::vector<std::pair<int32_t, double>> bias = {{7, 5.5}, {42, -100.0}};
  EXPECT_EQ(o.logit_bias, bias);
  EXPECT_EQ(o.seed, -12345);
  EXPECT_EQ(o.n, 3);
  EXPECT_EQ(o.stop, (std::vector<std::string>{"\n\n", "END"}));
  EXPECT_TRUE(o.logprobs);
  EXPECT_EQ(o.top_logprobs, 20);
  EXPECT_TRUE(o.stream);
  EXPECT_TRUE(o.include_usage);
  EXPECT_EQ(o.user, "u-1");
  EXPECT_TRUE(o.ignore_eos);
}

TEST(ChatRequest, NullMeansDefault) {
  const auto req = parse_ok(chat(
      R"("max_tokens": null, "max_completion_tokens": null, "temperature": null, "top_p": null,
         "top_k": null, "n": null, "stop": null, "seed": null, "stream": null,
         "stream_options": null, "logprobs": null, "top_logprobs": null, "logit_bias": null,
         "user": null, "tools": null, "tool_choice": null, "response_format": null)"));
  EXPECT_FALSE(req.options.max_tokens.has_value());
  EXPECT_EQ(req.options.temperature, 1.0);
  EXPECT_EQ(req.options.n, 1);
}

TEST(ChatRequest, MaxCompletionTokensWinsOverMaxTokens) {
  EXPECT_EQ(parse_ok(chat(R"("max_completion_tokens": 7)")).options.max_tokens, 7);
  EXPECT_EQ(parse_ok(chat(R"("max_tokens": 9, "max_completion_tokens": 7)")).options.max_tokens, 7);
  EXPECT_EQ(parse_ok(chat(R"("max_tokens": 9.0)")).options.max_tokens, 9);  // integral decimal
}

TEST(ChatRequest, SingleStopStringAndEmptyStopArray) {
  EXPECT_EQ(parse_ok(chat(R"("stop": "###")")).options.stop, std::vector<std::string>{"###"});
  EXPECT_TRUE(parse_ok(chat(R"("stop": [])")).options.stop.empty());
}

TEST(ChatRequest, TopKMinusOneMeansOff) {
  EXPECT_EQ(parse_ok(chat(R"("top_k": -1)")).options.top_k, 0);
  EXPECT_EQ(parse_ok(chat(R"("top_k": 0)")).options.top_k, 0);
}

TEST(ChatRequest, BoundaryValuesAreAccepted) {
  for (const char* extra :
       {R"("temperature": 0)", R"("temperature": 2)", R"("top_p": 1)", R"("top_p": 1e-9)",
        R"("min_p": 0)", R"("min_p": 1)", R"("repetition_penalty": 10)",
        R"("repetition_penalty": 0.01)", R"("presence_penalty": -2)", R"("frequency_penalty": 2)",
        R"("n": 16)", R"("logit_bias": {"0": 100, "2147483647": -100})",
        R"("seed": 9223372036854775807)", R"("seed": -9223372036854775808)", R"("max_tokens": 1)",
        R"("logprobs": true, "top_logprobs": 0)", R"("logprobs": false)",
        R"("stream": true, "stream_options": {"include_usage": false})", R"("stream": false)"}) {
    SCOPED_TRACE(extra);
    parse_ok(chat(extra));
  }
}

struct BadCase {
  const char* extra;  // appended to a valid body
  const char* param;  // expected `param`
  const char* text;   // expected part of the message
};

void expect_bad(const std::vector<BadCase>& cases, const char* code = nullptr) {
  for (const BadCase& c : cases) {
    SCOPED_TRACE(c.extra);
    const ApiError e = parse_error(chat(c.extra));
    EXPECT_EQ(e.status, 400);
    EXPECT_EQ(e.type, "invalid_request_error");
    EXPECT_EQ(e.param, c.param);
    EXPECT_TRUE(contains(e.message, c.text)) << e.message;
    if (code) {
      EXPECT_EQ(e.code, code);
    }
  }
}

TEST(ChatRequest, WrongTypesNameTheFieldAndTheExpectedType) {
  expect_bad(
      {
          {R"("temperature": "hot")", "temperature",
           "Invalid type for 'temperature': expected a number, but got a string instead."},
          {R"("temperature": true)", "temperature", "expected a number, but got a boolean"},
          {R"("top_p": [1])", "top_p", "expected a number, but got an array"},
          {R"("top_k": 1.5)", "top_k", "expected an integer, but got a decimal number"},
          {R"("top_k": "40")", "top_k", "expected an integer, but got a string"},
          {R"("min_p": {})", "min_p", "expected a number, but got an object"},
          {R"("repetition_penalty": "1")", "repetition_penalty", "expected a number"},
          {R"("presence_penalty": false)", "presence_penalty", "expected a number"},
          {R"("frequency_penalty": "0")", "frequency_penalty", "expected a number"},
          {R"("max_tokens": "100")", "max_tokens", "expected an integer, but got a string"},
          {R"("max_tokens": 10.5)", "max_tokens", "expected an integer, but got a decimal"},
          {R"("max_completion_tokens": true)", "max_completion_tokens", "expected an integer"},
          {R"("n": "2")", "n", "expected an integer"},
          {R"("seed": 1.5)", "seed", "expected an integer"},
          {R"("seed": "42")", "seed", "expected an integer"},
          {R"("stop": 5)", "stop", "expected a string or an array of strings, but got an integer"},
          {R"("stop": ["a", 1])", "stop[1]", "expected a string, but got an integer"},
          {R"("stop": [null])", "stop[0]", "expected a string, but got null"},
          {R"("stream": "true")", "stream", "expected a boolean, but got a string"},
          {R"("stream": 1)", "stream", "expected a boolean, but got an integer"},
          {R"("stream": true, "stream_options": true)", "stream_options", "expected an object"},
          {R"("stream": true, "stream_options": {"include_usage": "yes"})",
           "stream_options.include_usage", "expected a boolean"},
          {R"("logprobs": 1)", "logprobs", "expected a boolean, but got an integer"},
          {R"("logprobs": true, "top_logprobs": "3")", "top_logprobs", "expected an integer"},
          {R"("logit_bias": [1])", "logit_bias", "expected an object"},
          {R"("logit_bias": {"5": "x"})", "logit_bias.5", "expected a number, but got a string"},
          {R"("logit_bias": {"5": null})", "logit_bias.5", "expected a number, but got null"},
          {R"("user": 5)", "user", "expected a string"},
          {R"("ignore_eos": "yes")", "ignore_eos", "expected a boolean"},
          {R"("safety_identifier": 1)", "safety_identifier", "expected a string"},
      },
      "invalid_type");
}

TEST(ChatRequest, OutOfRangeValuesSayTheBound) {
  expect_bad({
      {R"("temperature": 2.5)", "temperature",
       "Invalid 'temperature': decimal above maximum value. Expected a value <= 2, but got 2.5 "
       "instead."},
      {R"("temperature": -0.1)", "temperature", "Expected a value >= 0"},
      {R"("top_p": 0)", "top_p", "Expected a value > 0, but got 0 instead."},
      {R"("top_p": 1.01)", "top_p", "Expected a value <= 1"},
      {R"("top_k": -2)", "top_k", "integer below minimum value. Expected a value >= -1"},
      {R"("top_k": 2147483648)", "top_k", "Expected a value <= 2147483647"},
      {R"("min_p": 1.5)", "min_p", "Expected a value <= 1"},
      {R"("min_p": -0.5)", "min_p", "Expected a value >= 0"},
      {R"("repetition_penalty": 0)", "repetition_penalty", "Expected a value > 0"},
      {R"("repetition_penalty": 10.5)", "repetition_penalty", "Expected a value <= 10"},
      {R"("presence_penalty": -2.01)", "presence_penalty", "Expected a value >= -2"},
      {R"("frequency_penalty": 3)", "frequency_penalty", "Expected a value <= 2"},
      {R"("n": 0)", "n", "integer below minimum value. Expected a value >= 1, but got 0"},
      {R"("n": 17)", "n", "integer above maximum value. Expected a value <= 16, but got 17"},
      {R"("max_tokens": 0)", "max_tokens", "Expected a value >= 1"},
      {R"("max_tokens": -5)", "max_tokens", "Expected a value >= 1"},
      {R"("max_completion_tokens": 0)", "max_completion_tokens", "Expected a value >= 1"},
      {R"("logprobs": true, "top_logprobs": 21)", "top_logprobs", "Expected a value <= 20"},
      {R"("logprobs": true, "top_logprobs": -1)", "top_logprobs", "Expected a value >= 0"},
      {R"("logit_bias": {"5": 101})", "logit_bias.5", "Expected a value <= 100"},
      {R"("logit_bias": {"5": -100.5})", "logit_bias.5", "Expected a value >= -100"},
  });
}

TEST(ChatRequest, HugeNumbersAreRejectedNotWrapped) {
  expect_bad({
      {R"("max_tokens": 99999999999999999999)", "max_tokens",
       "integer above maximum value. Expected a value <= 9223372036854775807"},
      {R"("max_tokens": 1e300)", "max_tokens", "integer above maximum value"},
      {R"("seed": 18446744073709551615)", "seed", "integer above maximum value"},
      {R"("seed": -1e30)", "seed", "integer below minimum value"},
      {R"("top_k": 4294967297)", "top_k", "above maximum value"},
  });
}

TEST(ChatRequest, StopRules) {
  expect_bad({
      {R"("stop": ["a", "b", "c", "d", "e"])", "stop",
       "array too long. Expected an array with maximum length 4, but got an array with length 5"},
      {R"("stop": "")", "stop", "empty string"},
      {R"("stop": ["a", ""])", "stop[1]", "empty string"},
  });
  parse_ok(chat(R"("stop": ["a", "b", "c", "d"])"));
}

TEST(ChatRequest, LogitBiasKeysMustBeTokenIds) {
  expect_bad({
      {R"("logit_bias": {"hello": 1})", "logit_bias", "key 'hello' is not a token id"},
      {R"("logit_bias": {"-5": 1})", "logit_bias", "key '-5' is not a token id"},
      {R"("logit_bias": {"": 1})", "logit_bias", "is not a token id"},
      {R"("logit_bias": {"1.5": 1})", "logit_bias", "is not a token id"},
      {R"("logit_bias": {"2147483648": 1})", "logit_bias", "is not a token id"},
      {R"("logit_bias": {"99999999999999999999": 1})", "logit_bias", "is not a token id"},
  });
  // Keys that name the same id collapse to one entry.
  const auto req = parse_ok(chat(R"("logit_bias": {"07": 1, "7": 2})"));
  ASSERT_EQ(req.options.logit_bias.size(), 1u);
  EXPECT_EQ(req.options.logit_bias[0].first, 7);
}

TEST(ChatRequest, TopLogprobsNeedsLogprobs) {
  expect_bad({
      {R"("top_logprobs": 3)", "top_logprobs", "'logprobs' must be set to true"},
      {R"("logprobs": false, "top_logprobs": 3)", "top_logprobs", "'logprobs' must be set"},
  });
}

TEST(ChatRequest, StreamOptionsOnlyWithStream) {
  expect_bad({
      {R"("stream_options": {"include_usage": true})", "stream_options",
       "only allowed when 'stream' is enabled"},
      {R"("stream": false, "stream_options": {"include_usage": true})", "stream_options",
       "only allowed when 'stream' is enabled"},
      {R"("stream": true, "stream_options": {"foo": true})", "stream_options.foo",
       "Unrecognized request argument supplied: stream_options.foo"},
      {R"("stream": true, "stream_options": {"include_obfuscation": true})",
       "stream_options.include_obfuscation", "Unsupported parameter"},
  });
  parse_ok(chat(R"("stream": true, "stream_options": {"include_obfuscation": false})"));
}

TEST(ChatRequest, UnsupportedParametersAreRejectedByName) {
  for (const char* extra : {
           R"("functions": [{"name": "f"}])",
           R"("function_call": "auto")",
           R"("audio": {"voice": "alloy", "format": "mp3"})",
           R"("modalities": ["text", "audio"])",
           R"("prediction": {"type": "content", "content": "x"})",
           R"("web_search_options": {})",
           R"("reasoning_effort": "low")",
           R"("verbosity": "low")",
           R"("store": true)",
           R"("metadata": {"a": "b"})",
           R"("service_tier": "flex")",
       }) {
    SCOPED_TRACE(extra);
    const ApiError e = parse_error(chat(extra));
    const std::string key = std::string(extra).substr(1, std::string(extra).find('"', 1) - 1);
    EXPECT_EQ(e.status, 400);
    EXPECT_EQ(e.param, key);
    EXPECT_EQ(e.code, "unsupported_parameter");
    EXPECT_TRUE(contains(e.message, "Unsupported parameter: '" + key + "'")) << e.message;
  }
  // The deprecated function calling points to its replacement.
  EXPECT_TRUE(contains(parse_error(chat(R"("functions": [{"name": "f"}])")).message,
                       "use 'tools' and 'tool_choice'"));
}

TEST(ChatRequest, NeutralValuesOfUnsupportedParametersAreAccepted) {
  for (const char* extra : {
           R"("functions": [])",
           R"("function_call": "none")",
           R"("modalities": ["text"])",
           R"("store": false)",
           R"("metadata": {})",
           R"("service_tier": "auto")",
           R"("service_tier": "default")",
       }) {
    SCOPED_TRACE(extra);
    parse_ok(chat(extra));
  }
}

TEST(ChatRequest, ResponseFormatTypes) {
  EXPECT_EQ(parse_ok(chat(R"("response_format": {"type": "text"})")).response_format.type,
            ResponseFormat::Type::kText);
  EXPECT_EQ(parse_ok(chat(R"("response_format": {"type": "json_object"})")).response_format.type,
            ResponseFormat::Type::kJsonObject);
  const ChatCompletionRequest r = parse_ok(chat(
      R"("response_format": {"type": "json_schema", "json_schema": {"name": "person-1",
         "strict": true, "schema": {"type": "object", "properties": {"zeta": {"type": "string"},
         "alpha": {"type": "integer"}}, "required": ["zeta", "alpha"]}}})"));
  EXPECT_EQ(r.response_format.type, ResponseFormat::Type::kJsonSchema);
  EXPECT_EQ(r.response_format.name, "person-1");
  EXPECT_TRUE(r.response_format.strict);
  // The schema keeps the body's key order: properties are generated in it.
  std::vector<std::string> keys;
  for (const auto& [k, v] : r.response_format.schema["properties"].items()) keys.push_back(k);
  EXPECT_EQ(keys, (std::vector<std::string>{"zeta", "alpha"}));
}

TEST(ChatRequest, ResponseFormatErrorsNameTheField) {
  struct Case {
    const char* extra;
    const char* param;
    const char* text;
  };
  for (const Case& c : {
           Case{R"("response_format": "text")", "response_format", "expected an object"},
           Case{R"("response_format": {})", "response_format.type", "Missing required"},
           Case{R"("response_format": {"type": "xml"})", "response_format.type",
                "Supported values are: 'text', 'json_object' and 'json_schema'"},
           Case{R"("response_format": {"type": "json_schema"})", "response_format.json_schema",
                "Missing required"},
           Case{R"("response_format": {"type": "json_schema", "json_schema": {"schema": {}}})",
                "response_format.json_schema.name", "Missing required"},
           Case{R"("response_format": {"type": "json_schema", "json_schema": {"name": "a b"}})",
                "response_format.json_schema.name", "letters, digits"},
           Case{R"("response_format": {"type": "json_schema",
                   "json_schema": {"name": "x", "schema": []}})",
                "response_format.json_schema.schema", "expected an object"},
           Case{R"("response_format": {"type": "json_schema",
                   "json_schema": {"name": "x", "strict": "yes"}})",
                "response_format.json_schema.strict", "a boolean"},
           Case{R"("response_format": {"type": "json_object", "schema": {}})",
                "response_format.schema", "Unrecognized argument"},
       }) {
    SCOPED_TRACE(c.extra);
    const ApiError e = parse_error(chat(c.extra));
    EXPECT_EQ(e.status, 400);
    EXPECT_EQ(e.param, c.param);
    EXPECT_TRUE(contains(e.message, c.text)) << e.message;
  }
}

TEST(ChatRequest, UnknownKeysAreRejectedLikeOpenAI) {
  const ApiError e = parse_error(chat(R"("temprature": 0.5)"));
  EXPECT_EQ(e.message, "Unrecognized request argument supplied: temprature");
  EXPECT_EQ(e.param, "temprature");
  // Completions-only parameters are unknown here.
  EXPECT_EQ(parse_error(chat(R"("prompt": "x")")).param, "prompt");
  EXPECT_EQ(parse_error(chat(R"("echo": false)")).param, "echo");
  EXPECT_EQ(parse_error(chat(R"("best_of": 1)")).param, "best_of");
}

TEST(ChatRequest, RequiredFields) {
  ApiError e = parse_error(R"({"messages": [{"role": "user", "content": "Hi"}]})");
  EXPECT_EQ(e.message, "Missing required parameter: 'model'.");
  EXPECT_EQ(e.param, "model");
  EXPECT_EQ(e.code, "missing_required_parameter");
  e = parse_error(R"({"model": null, "messages": [{"role": "user", "content": "Hi"}]})");
  EXPECT_EQ(e.param, "model");
  e = parse_error(R"({"model": 5, "messages": [{"role": "user", "content": "Hi"}]})");
  EXPECT_EQ(e.message, "Invalid type for 'model': expected a string, but got an integer instead.");
  e = parse_error(R"({"model": "m"})");
  EXPECT_EQ(e.message, "Missing required parameter: 'messages'.");
  e = parse_error(R"({"model": "m", "messages": []})");
  EXPECT_EQ(e.param, "messages");
  EXPECT_EQ(e.code, "empty_array");
  e = parse_error(R"({"model": "m", "messages": "hi"})");
  EXPECT_EQ(e.message, "Invalid type for 'messages': expected an array, but got a string instead.");
}

ApiError message_error(const std::string& messages) {
  return parse_error(R"({"model": "m", "messages": )" + messages + "}");
}

ChatCompletionRequest messages_ok(const std::string& messages) {
  return parse_ok(R"({"model": "m", "messages": )" + messages + "}");
}

TEST(ChatRequest, RolesAndNames) {
  const auto req = messages_ok(
      R"([{"role": "developer", "content": "Be brief."}, {"role": "system", "content": "S"},
          {"role": "user", "content": "Hi", "name": "ann"},
          {"role": "assistant", "content": "Hello", "refusal": null},
          {"role": "user", "content": "Again"}])");
  ASSERT_EQ(req.messages.size(), 5u);
  EXPECT_EQ(req.messages[0].role, "system");  // developer is treated as system
  EXPECT_EQ(req.messages[0].content, "Be brief.");
  EXPECT_EQ(req.messages[1].role, "system");
  EXPECT_EQ(req.messages[2].name, "ann");
  EXPECT_EQ(req.messages[3].role, "assistant");
  EXPECT_EQ(req.messages[4].content, "Again");
}

TEST(ChatRequest, MessagesForTheChatTemplate) {
  const auto req = messages_ok(
      R"([{"role": "developer", "content": "Be brief."}, {"role": "user", "content": "Hi", "name": "ann"}])");
  EXPECT_EQ(
      chat_messages_json(req.messages).dump(),
      R"([{"role":"system","content":"Be brief."},{"role":"user","content":"Hi","name":"ann"}])");
}

TEST(ChatRequest, TextContentPartsAreJoined) {
  const auto req = messages_ok(
      R"([{"role": "user", "content": [{"type": "text", "text": "one"},
                                       {"type": "text", "text": "two"}]}])");
  EXPECT_EQ(req.messages[0].content, "one\ntwo");
  EXPECT_EQ(messages_ok(R"([{"role": "user", "content": ""}])").messages[0].content, "");
}

TEST(ChatRequest, BadMessagesNameThePath) {
  struct Case {
    const char* messages;
    const char* param;
    const char* text;
  };
  for (
      const Case& c : std::vector<Case>{
          {R"(["hi"])", "messages[0]", "expected an object, but got a string"},
          {R"([{"content": "x"}])", "messages[0].role", "Missing required parameter"},
          {R"([{"role": 1, "content": "x"}])", "messages[0].role", "expected a string"},
          {R"([{"role": "bot", "content": "x"}])", "messages[0].role",
           "Invalid value: 'bot'. Supported values are"},
          {R"([{"role": "function", "content": "x", "name": "f"}])", "messages[0].role",
           "deprecated role 'function' are not supported; answer tool calls with role 'tool'"},
          {R"([{"role": "user"}])", "messages[0].content", "Missing required parameter"},
          {R"([{"role": "user", "content": null}])", "messages[0].content", "Missing required"},
          {R"([{"role": "assistant", "content": null}])", "messages[0].content",
           "Missing required"},
          {R"([{"role": "user", "content": 5}])", "messages[0].content",
           "expected a string or an array of content parts, but got an integer"},
          {R"([{"role": "user", "content": []}])", "messages[0].content", "empty array"},
          {R"([{"role": "user", "content": ["hi"]}])", "messages[0].content[0]",
           "expected an object"},
          {R"([{"role": "user", "content": [{"text": "hi"}]}])", "messages[0].content[0].type",
           "Missing required parameter"},
          {R"([{"role": "user", "content": [{"type": 3}]}])", "messages[0].content[0].type",
           "expected a string"},
          {R"([{"role": "user", "content": [{"type": "text"}]}])", "messages[0].content[0].text",
           "Missing required parameter"},
          {R"([{"role": "user", "content": [{"type": "text", "text": 1}]}])",
           "messages[0].content[0].text", "expected a string"},
          {R"([{"role": "user", "content": [{"type": "text", "text": "a", "x": 1}]}])",
           "messages[0].content[0].x", "Unrecognized argument"},
          {R"([{"role": "user", "content": "a"}, {"role": "user", "content": [{"type": "text", "text": "a"}, {"type": "image_url", "image_url": {"url": "http://x"}}]}])",
           "messages[1].content[1].type", "Invalid content part type 'image_url'"},
          {R"([{"role": "user", "content": [{"type": "input_audio", "input_audio": {}}]}])",
           "messages[0].content[0].type", "'input_audio'"},
          {R"([{"role": "user", "content": [{"type": "file", "file": {}}]}])",
           "messages[0].content[0].type", "'file'"},
          {R"([{"role": "user", "content": "a", "name": 5}])", "messages[0].name",
           "expected a string"},
          {R"([{"role": "user", "content": "a", "foo": 5}])", "messages[0].foo",
           "Unrecognized argument supplied in 'messages[0]': foo"},
          {R"([{"role": "user", "content": "a", "refusal": "no"}])", "messages[0].refusal",
           "Unrecognized argument"},
          {R"([{"role": "assistant", "content": "a", "tool_calls": [{"id": "1"}]}])",
           "messages[0].tool_calls[0].type", "Missing required parameter"},
          {R"([{"role": "assistant", "content": "a", "refusal": 1}])", "messages[0].refusal",
           "expected a string"},
      }) {
    SCOPED_TRACE(c.messages);
    const ApiError e = message_error(c.messages);
    EXPECT_EQ(e.status, 400);
    EXPECT_EQ(e.param, c.param);
    EXPECT_TRUE(contains(e.message, c.text)) << e.message;
  }
  // Empty tool_calls on an assistant message change nothing.
  messages_ok(R"([{"role": "assistant", "content": "a", "tool_calls": []}])");
}

TEST(ChatRequest, MalformedBodies) {
  struct Case {
    std::string body;
    const char* text;
  };
  const std::string nested = std::string(100, '[') + std::string(100, ']');
  for (const Case& c : std::vector<Case>{
           {"", "The request body is empty"},
           {"   \n", "The request body is empty"},
           {"{", "We could not parse the JSON body of your request"},
           {"{\"model\": \"m\",}", "We could not parse the JSON body"},
           {"not json", "We could not parse the JSON body"},
           {"{\"model\": 'm'}", "We could not parse the JSON body"},
           {"{} {}", "We could not parse the JSON body"},
           {"[1, 2]", "must be a JSON object, but got an array"},
           {"\"text\"", "must be a JSON object, but got a string"},
           {"null", "must be a JSON object, but got null"},
           {"42", "must be a JSON object, but got an integer"},
           {"{\"model\": \"m\xff\xfe\"}", "We could not parse the JSON body"},
           {"{\"model\": \"\xc3\"}", "We could not parse the JSON body"},
           {"{\"model\": \"\\ud800\"}", "We could not parse the JSON body"},
           {std::string("{\"model\": \"a\0b\"}", 16), "We could not parse the JSON body"},
           {"{\"a\": " + nested + "}", "nested more than 64 levels"},
           {nested, "nested more than 64 levels"},
           {"{\"model\": \"m\", \"temperature\": 1e400}", "number overflow"},
           {"{\"model\": \"m\", \"n\": -1e400}", "number overflow"},
       }) {
    SCOPED_TRACE(c.body);
    const ApiError e = parse_error(c.body);
    EXPECT_EQ(e.status, 400);
    EXPECT_EQ(e.type, "invalid_request_error");
    EXPECT_TRUE(contains(e.message, c.text)) << e.message;
    EXPECT_EQ(e.message.find("json.exception"), std::string::npos) << e.message;
  }
}

TEST(ChatRequest, UnicodeTextSurvives) {
  const auto req = messages_ok(R"([{"role": "user", "content": "h\u00e9llo \ud83d\ude00 日本"}])");
  EXPECT_EQ(req.messages[0].content, "h\xc3\xa9llo \xf0\x9f\x98\x80 \xe6\x97\xa5\xe6\x9c\xac");
}

TEST(ChatRequest, DuplicateKeysKeepTheLastValue) {
  EXPECT_EQ(parse_ok(chat(R"("n": 2, "n": 3)")).options.n, 3);
  // Also for the ordered copy tool schemas are taken from.
  const auto req = parse_ok(chat(
      R"("tools": [{"type": "function", "function": {"name": "a", "parameters": {"x": 1}}}],
         "tools": [{"type": "function", "function": {"name": "b", "parameters": {"z": 1},
                    "parameters": {"q": 1, "p": 2}}}])"));
  ASSERT_EQ(req.tools.size(), 1u);
  EXPECT_EQ(req.tools[0].name, "b");
  EXPECT_EQ(req.tools[0].parameters.dump(), R"({"q":1,"p":2})");
}

// --- tool calling ---------------------------------------------------------------------------

// A tool named `name` as a JSON fragment.
std::string tool(const std::string& name) {
  return R"({"type": "function", "function": {"name": ")" + name + R"("}})";
}

TEST(ChatTools, ToolsAreReadWithTheirSchemasInBodyKeyOrder) {
  const auto req = parse_ok(chat(
      R"("tools": [{"type": "function", "function": {"name": "get_weather",
          "description": "Weather of a city.", "strict": true,
          "parameters": {"type": "object", "properties": {"zeta": {"type": "string"},
                         "alpha": {"type": "integer"}, "mid": {"type": "boolean"}},
                         "required": ["zeta"], "additionalProperties": false}}},
         {"type": "function", "function": {"name": "No-Args_2"}}])"));
  ASSERT_EQ(req.tools.size(), 2u);
  const ToolFunction& weather = req.tools[0];
  EXPECT_EQ(weather.name, "get_weather");
  EXPECT_EQ(weather.description, "Weather of a city.");
  EXPECT_TRUE(weather.strict);
  // Key order of the body, not alphabetical: arguments are generated in it.
  std::vector<std::string> keys;
  for (const auto& [k, v] : weather.parameters.items()) keys.push_back(k);
  EXPECT_EQ(keys,
            (std::vector<std::string>{"type", "properties", "required", "additionalProperties"}));
  keys.clear();
  for (const auto& [k, v] : weather.parameters["properties"].items()) keys.push_back(k);
  EXPECT_EQ(keys, (std::vector<std::string>{"zeta", "alpha", "mid"}));
  EXPECT_EQ(weather.parameters.dump(),
            R"({"type":"object","properties":{"zeta":{"type":"string"},"alpha":{"type":"integer"},)"
            R"("mid":{"type":"boolean"}},"required":["zeta"],"additionalProperties":false})");
  const ToolFunction& bare = req.tools[1];
  EXPECT_EQ(bare.name, "No-Args_2");
  EXPECT_EQ(bare.description, "");
  EXPECT_FALSE(bare.strict);
  EXPECT_TRUE(bare.parameters.is_null());  // any object
  // Defaults with tools.
  EXPECT_EQ(req.tool_choice.mode, ToolChoice::Mode::kAuto);
  EXPECT_TRUE(req.parallel_tool_calls);
}

TEST(ChatTools, EachToolGetsItsOwnParameters) {
  const auto req = parse_ok(chat(
      R"("tools": [{"type": "function", "function": {"name": "a", "parameters": {"b": 1, "a": 2}}},
                   {"type": "function", "function": {"name": "b", "parameters": null}},
                   {"function": {"parameters": {"y": 1, "x": 2}, "name": "c"}, "type": "function"}])"));
  ASSERT_EQ(req.tools.size(), 3u);
  EXPECT_EQ(req.tools[0].parameters.dump(), R"({"b":1,"a":2})");
  EXPECT_TRUE(req.tools[1].parameters.is_null());
  EXPECT_EQ(req.tools[2].parameters.dump(), R"({"y":1,"x":2})");
}

TEST(ChatTools, DefaultsWithoutTools) {
  for (const char* extra : {"", R"("tools": null)", R"("tools": [])", R"("tool_choice": "none")",
                            R"("tools": [], "tool_choice": "none")", R"("tool_choice": null)"}) {
    SCOPED_TRACE(extra);
    const auto req = parse_ok(chat(extra));
    EXPECT_TRUE(req.tools.empty());
    EXPECT_EQ(req.tool_choice.mode, ToolChoice::Mode::kNone);
    EXPECT_TRUE(req.parallel_tool_calls);
  }
}

TEST(ChatTools, ToolChoiceModes) {
  const std::string tools = R"("tools": [)" + tool("f") + ", " + tool("g") + "]";
  EXPECT_EQ(parse_ok(chat(tools)).tool_choice.mode, ToolChoice::Mode::kAuto);
  EXPECT_EQ(parse_ok(chat(tools + R"(, "tool_choice": null)")).tool_choice.mode,
            ToolChoice::Mode::kAuto);
  EXPECT_EQ(parse_ok(chat(tools + R"(, "tool_choice": "none")")).tool_choice.mode,
            ToolChoice::Mode::kNone);
  EXPECT_EQ(parse_ok(chat(tools + R"(, "tool_choice": "auto")")).tool_choice.mode,
            ToolChoice::Mode::kAuto);
  EXPECT_EQ(parse_ok(chat(tools + R"(, "tool_choice": "required")")).tool_choice.mode,
            ToolChoice::Mode::kRequired);
  const auto named =
      parse_ok(chat(tools + R"(, "tool_choice": {"type": "function", "function": {"name": "g"}})"));
  EXPECT_EQ(named.tool_choice.mode, ToolChoice::Mode::kFunction);
  EXPECT_EQ(named.tool_choice.function, "g");
}

TEST(ChatTools, ParallelToolCalls) {
  const std::string tools = R"("tools": [)" + tool("f") + "]";
  EXPECT_FALSE(parse_ok(chat(tools + R"(, "parallel_tool_calls": false)")).parallel_tool_calls);
  EXPECT_TRUE(parse_ok(chat(tools + R"(, "parallel_tool_calls": true)")).parallel_tool_calls);
  EXPECT_TRUE(parse_ok(chat(tools + R"(, "parallel_tool_calls": null)")).parallel_tool_calls);
  // Without tools it changes nothing and is accepted.
  EXPECT_FALSE(parse_ok(chat(R"("parallel_tool_calls": false)")).parallel_tool_calls);
}

TEST(ChatTools, AtMost128Tools) {
  std::string list;
  for (int i = 0; i < 128; ++i) list += (i ? ", " : "") + tool("t" + std::to_string(i));
  EXPECT_EQ(parse_ok(chat(R"("tools": [)" + list + "]")).tools.size(), 128u);
  const ApiError e = parse_error(chat(R"("tools": [)" + list + ", " + tool("x") + "]"));
  EXPECT_EQ(e.param, "tools");
  EXPECT_EQ(e.code, "array_above_max_length");
  EXPECT_EQ(e.message,
            "Invalid 'tools': array too long. Expected an array with maximum length 128, but got "
            "an array with length 129 instead.");
}

TEST(ChatTools, FunctionNames) {
  for (const char* name : {"a", "A-z_09", "get_current_weather",
                           "x234567890123456789012345678901234567890123456789012345678901234"}) {
    SCOPED_TRACE(name);
    EXPECT_EQ(parse_ok(chat(R"("tools": [)" + tool(name) + "]")).tools[0].name, name);
  }
  struct Case {
    std::string name;
    const char* code;
    const char* message;
  };
  for (const Case& c : std::vector<Case>{
           {"", "empty_string",
            "Invalid 'tools[0].function.name': empty string. Expected a string with minimum "
            "length 1, but got an empty string instead."},
           {std::string(65, 'x'), "string_above_max_length",
            "Invalid 'tools[0].function.name': string too long. Expected a string with maximum "
            "length 64, but got a string with length 65 instead."},
           {"get weather", "invalid_value",
            "Invalid 'tools[0].function.name': string does not match pattern. Expected a string "
            "that matches the pattern '^[a-zA-Z0-9_-]{1,64}$'."},
           {"a.b", "invalid_value", "does not match pattern"},
           {"caf\xc3\xa9", "invalid_value", "does not match pattern"},
       }) {
    SCOPED_TRACE(c.name);
    const ApiError e = parse_error(chat(R"("tools": [)" + tool(c.name) + "]"));
    EXPECT_EQ(e.param, "tools[0].function.name");
    EXPECT_EQ(e.code, c.code);
    EXPECT_TRUE(contains(e.message, c.message)) << e.message;
  }
}

TEST(ChatTools, ToolErrorsNameTheField) {
  struct Case {
    std::string extra;
    const char* param;
    const char* code;
    const char* text;
  };
  for (const Case& c : std::vector<Case>{
           {R"("tools": {})", "tools", "invalid_type",
            "Invalid type for 'tools': expected an array, but got an object instead."},
           {R"("tools": "f")", "tools", "invalid_type", "expected an array"},
           {R"("tools": ["f"])", "tools[0]", "invalid_type",
            "Invalid type for 'tools[0]': expected an object, but got a string instead."},
           {R"("tools": [{}])", "tools[0].type", "missing_required_parameter",
            "Missing required parameter: 'tools[0].type'."},
           {R"("tools": [{"type": "custom", "custom": {"name": "f"}}])", "tools[0].type",
            "invalid_value", "Invalid value: 'custom'. Supported values are: 'function'."},
           {R"("tools": [{"type": 1, "function": {"name": "f"}}])", "tools[0].type", "invalid_type",
            "expected a string"},
           {R"("tools": [{"type": "function"}])", "tools[0].function", "missing_required_parameter",
            "Missing required parameter: 'tools[0].function'."},
           {R"("tools": [{"type": "function", "function": null}])", "tools[0].function",
            "missing_required_parameter", "Missing required parameter"},
           {R"("tools": [{"type": "function", "function": "f"}])", "tools[0].function",
            "invalid_type", "expected an object, but got a string"},
           {R"("tools": [{"type": "function", "function": {"name": "f"}, "x": 1}])", "tools[0].x",
            "unknown_parameter", "Unrecognized argument supplied in 'tools[0]': x"},
           {R"("tools": [{"type": "function", "function": {}}])", "tools[0].function.name",
            "missing_required_parameter", "Missing required parameter: 'tools[0].function.name'."},
           {R"("tools": [{"type": "function", "function": {"name": 5}}])", "tools[0].function.name",
            "invalid_type",
            "Invalid type for 'tools[0].function.name': expected a string, but got an integer "
            "instead."},
           {R"("tools": [{"type": "function", "function": {"name": "f", "x": 1}}])",
            "tools[0].function.x", "unknown_parameter",
            "Unrecognized argument supplied in 'tools[0].function': x"},
           {R"("tools": [{"type": "function", "function": {"name": "f", "arguments": {}}}])",
            "tools[0].function.arguments", "unknown_parameter",
            "Unrecognized argument supplied in 'tools[0].function': arguments"},
           {R"("tools": [{"type": "function", "function": {"name": "f", "description": 1}}])",
            "tools[0].function.description", "invalid_type", "expected a string"},
           {R"("tools": [{"type": "function", "function": {"name": "f", "strict": "yes"}}])",
            "tools[0].function.strict", "invalid_type", "expected a boolean"},
           {R"("tools": [{"type": "function", "function": {"name": "f", "parameters": []}}])",
            "tools[0].function.parameters", "invalid_type",
            "Invalid type for 'tools[0].function.parameters': expected an object, but got an "
            "array instead."},
           {R"("tools": [{"type": "function", "function": {"name": "f", "parameters": "{}"}}])",
            "tools[0].function.parameters", "invalid_type", "expected an object"},
           {R"("tools": [)" + tool("f") + ", " + tool("g") + ", " + tool("f") + "]",
            "tools[2].function.name", "invalid_value",
            "Invalid 'tools[2].function.name': 'f' is already the name of tools[0]. Function "
            "names must be unique."},
           {R"("tools": [)" + tool("f") + R"(, {"type": "function", "function": {"name": "g",
               "parameters": {}, "bad": 1}}])",
            "tools[1].function.bad", "unknown_parameter",
            "Unrecognized argument supplied in 'tools[1].function': bad"},
       }) {
    SCOPED_TRACE(c.extra);
    const ApiError e = parse_error(chat(c.extra));
    EXPECT_EQ(e.status, 400);
    EXPECT_EQ(e.type, "invalid_request_error");
    EXPECT_EQ(e.param, c.param);
    EXPECT_EQ(e.code, c.code);
    EXPECT_TRUE(contains(e.message, c.text)) << e.message;
  }
}

TEST(ChatTools, ToolChoiceErrorsNameTheField) {
  const std::string tools = R"("tools": [)" + tool("f") + "], ";
  struct Case {
    std::string extra;
    const char* param;
    const char* code;
    const char* text;
  };
  for (const Case& c : std::vector<Case>{
           {R"("tool_choice": "auto")", "tool_choice", "invalid_value",
            "Invalid value for 'tool_choice': 'tool_choice' is only allowed when 'tools' are "
            "specified."},
           {R"("tool_choice": "required")", "tool_choice", "invalid_value",
            "only allowed when 'tools' are specified"},
           {R"("tools": [], "tool_choice": "auto")", "tool_choice", "invalid_value",
            "only allowed when 'tools' are specified"},
           {R"("tool_choice": {"type": "function", "function": {"name": "f"}})", "tool_choice",
            "invalid_value", "only allowed when 'tools' are specified"},
           {tools + R"("tool_choice": "any")", "tool_choice", "invalid_value",
            "Invalid value: 'any'. Supported values are: 'none', 'auto', and 'required'."},
           {tools + R"("tool_choice": true)", "tool_choice", "invalid_type",
            "Invalid type for 'tool_choice': expected a string or an object, but got a boolean "
            "instead."},
           {tools + R"("tool_choice": ["f"])", "tool_choice", "invalid_type",
            "expected a string or an object"},
           {tools + R"("tool_choice": {"type": "function", "function": {"name": "g"}})",
            "tool_choice", "invalid_value",
            "Invalid value for 'tool_choice': function 'g' is not one of the functions in "
            "'tools'."},
           {tools + R"("tool_choice": {"function": {"name": "f"}})", "tool_choice.type",
            "missing_required_parameter", "Missing required parameter: 'tool_choice.type'."},
           {tools + R"("tool_choice": {"type": "allowed_tools", "allowed_tools": {}})",
            "tool_choice.type", "invalid_value", "Supported values are: 'function'."},
           {tools + R"("tool_choice": {"type": "function"})", "tool_choice.function",
            "missing_required_parameter", "Missing required parameter: 'tool_choice.function'."},
           {tools + R"("tool_choice": {"type": "function", "function": "f"})",
            "tool_choice.function", "invalid_type", "expected an object"},
           {tools + R"("tool_choice": {"type": "function", "function": {}})",
            "tool_choice.function.name", "missing_required_parameter",
            "Missing required parameter: 'tool_choice.function.name'."},
           {tools + R"("tool_choice": {"type": "function", "function": {"name": 1}})",
            "tool_choice.function.name", "invalid_type", "expected a string"},
           {tools + R"("tool_choice": {"type": "function", "function": {"name": "f"}, "x": 1})",
            "tool_choice.x", "unknown_parameter",
            "Unrecognized argument supplied in 'tool_choice': x"},
           {tools + R"("tool_choice": {"type": "function", "function": {"name": "f", "x": 1}})",
            "tool_choice.function.x", "unknown_parameter",
            "Unrecognized argument supplied in 'tool_choice.function': x"},
           {tools + R"("parallel_tool_calls": "yes")", "parallel_tool_calls", "invalid_type",
            "Invalid type for 'parallel_tool_calls': expected a boolean, but got a string "
            "instead."},
           {R"("parallel_tool_calls": 1)", "parallel_tool_calls", "invalid_type",
            "expected a boolean"},
       }) {
    SCOPED_TRACE(c.extra);
    const ApiError e = parse_error(chat(c.extra));
    EXPECT_EQ(e.status, 400);
    EXPECT_EQ(e.param, c.param);
    EXPECT_EQ(e.code, c.code);
    EXPECT_TRUE(contains(e.message, c.text)) << e.message;
  }
}

// A conversation where the assistant called two tools and got both answers.
constexpr const char* kToolConversation = R"([
  {"role": "system", "content": "Use tools."},
  {"role": "user", "content": "Weather in Paris and Oslo?"},
  {"role": "assistant", "content": null, "tool_calls": [
     {"id": "call_1", "type": "function",
      "function": {"name": "get_weather", "arguments": "{\"city\": \"Paris\", \"unit\": \"c\"}"}},
     {"id": "call_2", "type": "function",
      "function": {"name": "get_weather", "arguments": "{\"unit\":\"c\",\"city\":\"Oslo\"}"}}]},
  {"role": "tool", "tool_call_id": "call_1", "content": "18 C"},
  {"role": "tool", "tool_call_id": "call_2", "content": [{"type": "text", "text": "9 C"}]},
  {"role": "assistant", "content": "Paris 18 C, Oslo 9 C.", "tool_calls": []},
  {"role": "assistant", "content": "Checking.", "tool_calls": [
     {"id": "call_3", "type": "function", "function": {"name": "now", "arguments": "{}"}}]},
  {"role": "tool", "tool_call_id": "call_3", "content": "noon", "name": "now"}
])";

TEST(ChatTools, MessagesWithToolCallsAndToolAnswers) {
  const auto req = messages_ok(kToolConversation);
  ASSERT_EQ(req.messages.size(), 8u);
  const ChatMessage& call = req.messages[2];
  EXPECT_EQ(call.role, "assistant");
  EXPECT_EQ(call.content, "");
  ASSERT_EQ(call.tool_calls.size(), 2u);
  EXPECT_EQ(call.tool_calls[0].id, "call_1");
  EXPECT_EQ(call.tool_calls[0].name, "get_weather");
  EXPECT_EQ(call.tool_calls[0].arguments, R"({"city": "Paris", "unit": "c"})");  // as sent
  EXPECT_EQ(call.tool_calls[1].id, "call_2");
  EXPECT_EQ(req.messages[3].role, "tool");
  EXPECT_EQ(req.messages[3].tool_call_id, "call_1");
  EXPECT_EQ(req.messages[3].content, "18 C");
  EXPECT_EQ(req.messages[4].content, "9 C");
  EXPECT_TRUE(req.messages[5].tool_calls.empty());
  EXPECT_EQ(req.messages[6].content, "Checking.");
  EXPECT_EQ(req.messages[7].name, "now");
  // "content" may be absent when there are tool calls.
  const auto absent = messages_ok(
      R"([{"role": "assistant", "tool_calls": [{"id": "c", "type": "function",
           "function": {"name": "f", "arguments": "{\"a\": [1, {\"b\": null}]}"}}]}])");
  EXPECT_EQ(absent.messages[0].content, "");
  EXPECT_EQ(absent.messages[0].tool_calls.size(), 1u);
}

TEST(ChatTools, MessagesForTheChatTemplateCarryToolCallsAsObjects) {
  const auto req = messages_ok(kToolConversation);
  const nlohmann::ordered_json messages = chat_messages_json(req.messages);
  EXPECT_EQ(messages.dump(),
            R"([{"role":"system","content":"Use tools."},)"
            R"({"role":"user","content":"Weather in Paris and Oslo?"},)"
            R"({"role":"assistant","content":null,"tool_calls":[)"
            R"({"id":"call_1","type":"function","function":{"name":"get_weather",)"
            R"("arguments":{"city":"Paris","unit":"c"}}},)"
            R"({"id":"call_2","type":"function","function":{"name":"get_weather",)"
            R"("arguments":{"unit":"c","city":"Oslo"}}}]},)"
            R"({"role":"tool","content":"18 C","tool_call_id":"call_1"},)"
            R"({"role":"tool","content":"9 C","tool_call_id":"call_2"},)"
            R"({"role":"assistant","content":"Paris 18 C, Oslo 9 C."},)"
            R"({"role":"assistant","content":"Checking.","tool_calls":[)"
            R"({"id":"call_3","type":"function","function":{"name":"now","arguments":{}}}]},)"
            R"({"role":"tool","content":"noon","name":"now","tool_call_id":"call_3"}])");
  // The arguments are an object a template can iterate, in the text's key order.
  const auto& arguments = messages[2]["tool_calls"][1]["function"]["arguments"];
  ASSERT_TRUE(arguments.is_object());
  EXPECT_EQ(arguments.begin().key(), "unit");
}

TEST(ChatTools, ArgumentsThatAreNoObjectStayText) {
  // Not possible through the parser; a message built by hand keeps its text.
  ChatMessage m;
  m.role = "assistant";
  m.tool_calls = {{"call_9", "f", "not json"}, {"call_10", "g", "[1]"}};
  EXPECT_EQ(chat_messages_json({m}).dump(),
            R"([{"role":"assistant","content":null,"tool_calls":[)"
            R"({"id":"call_9","type":"function","function":{"name":"f","arguments":"not json"}},)"
            R"({"id":"call_10","type":"function","function":{"name":"g","arguments":"[1]"}}]}])");
}

TEST(ChatTools, BadToolMessagesNameThePath) {
  auto call = [](const std::string& fields) {
    return R"([{"role": "assistant", "tool_calls": [)" + fields + "]}]";
  };
  const std::string ok_function = R"("function": {"name": "f", "arguments": "{}"})";
  struct Case {
    std::string messages;
    const char* param;
    const char* code;
    const char* text;
  };
  const std::string deep = std::string(70, '[') + std::string(70, ']');
  for (
      const Case& c : std::vector<Case>{
          {R"([{"role": "assistant", "tool_calls": {}}])", "messages[0].tool_calls", "invalid_type",
           "expected an array, but got an object"},
          {R"([{"role": "assistant", "tool_calls": []}])", "messages[0].content",
           "missing_required_parameter", "Missing required parameter: 'messages[0].content'."},
          {R"([{"role": "assistant", "content": null, "tool_calls": null}])", "messages[0].content",
           "missing_required_parameter", "Missing required parameter"},
          {call(R"("x")"), "messages[0].tool_calls[0]", "invalid_type", "expected an object"},
          {call(R"({"type": "function", )" + ok_function + "}"), "messages[0].tool_calls[0].id",
           "missing_required_parameter",
           "Missing required parameter: 'messages[0].tool_calls[0].id'."},
          {call(R"({"id": 1, "type": "function", )" + ok_function + "}"),
           "messages[0].tool_calls[0].id", "invalid_type", "expected a string"},
          {call(R"({"id": "c", )" + ok_function + "}"), "messages[0].tool_calls[0].type",
           "missing_required_parameter", "Missing required parameter"},
          {call(R"({"id": "c", "type": "custom", )" + ok_function + "}"),
           "messages[0].tool_calls[0].type", "invalid_value", "Supported values are: 'function'"},
          {call(R"({"id": "c", "type": "function"})"), "messages[0].tool_calls[0].function",
           "missing_required_parameter", "Missing required parameter"},
          {call(R"({"id": "c", "type": "function", "function": []})"),
           "messages[0].tool_calls[0].function", "invalid_type", "expected an object"},
          {call(R"({"id": "c", "type": "function", "x": 1, )" + ok_function + "}"),
           "messages[0].tool_calls[0].x", "unknown_parameter",
           "Unrecognized argument supplied in 'messages[0].tool_calls[0]': x"},
          {call(R"({"id": "c", "type": "function", "function": {"arguments": "{}"}})"),
           "messages[0].tool_calls[0].function.name", "missing_required_parameter",
           "Missing required parameter"},
          {call(R"({"id": "c", "type": "function", "function": {"name": "f"}})"),
           "messages[0].tool_calls[0].function.arguments", "missing_required_parameter",
           "Missing required parameter: 'messages[0].tool_calls[0].function.arguments'."},
          {call(R"({"id": "c", "type": "function", "function": {"name": "f", "arguments": {}}})"),
           "messages[0].tool_calls[0].function.arguments", "invalid_type",
           "expected a string, but got an object"},
          {call(R"({"id": "c", "type": "function", "function": {"name": "f", "arguments": "{"}})"),
           "messages[0].tool_calls[0].function.arguments", "invalid_value",
           "Invalid 'messages[0].tool_calls[0].function.arguments': expected the JSON text of an "
           "object (the function's arguments, e.g. \"{}\"), but got text that does not parse "
           "as JSON instead."},
          {call(R"({"id": "c", "type": "function", "function": {"name": "f", "arguments": ""}})"),
           "messages[0].tool_calls[0].function.arguments", "invalid_value",
           "does not parse as JSON"},
          {call(
               R"({"id": "c", "type": "function", "function": {"name": "f", "arguments": "[1]"}})"),
           "messages[0].tool_calls[0].function.arguments", "invalid_value",
           "but got the JSON text of an array instead."},
          {call(
               R"({"id": "c", "type": "function", "function": {"name": "f", "arguments": "\"{}\""}})"),
           "messages[0].tool_calls[0].function.arguments", "invalid_value",
           "but got the JSON text of a string instead."},
          {call(R"({"id": "c", "type": "function", "function": {"name": "f", "arguments": ")" +
                deep + R"("}})"),
           "messages[0].tool_calls[0].function.arguments", "invalid_value",
           "does not parse as JSON"},
          {call(
               R"({"id": "c", "type": "function", "function": {"name": "f", "arguments": "{}", "x": 1}})"),
           "messages[0].tool_calls[0].function.x", "unknown_parameter",
           "Unrecognized argument supplied in 'messages[0].tool_calls[0].function': x"},
          {R"([{"role": "tool", "content": "x"}])", "messages[0].tool_call_id",
           "missing_required_parameter", "Missing required parameter: 'messages[0].tool_call_id'."},
          {R"([{"role": "tool", "content": "x", "tool_call_id": null}])",
           "messages[0].tool_call_id", "missing_required_parameter", "Missing required"},
          {R"([{"role": "tool", "content": "x", "tool_call_id": 7}])", "messages[0].tool_call_id",
           "invalid_type", "expected a string, but got an integer"},
          {R"([{"role": "tool", "tool_call_id": "c"}])", "messages[0].content",
           "missing_required_parameter", "Missing required parameter: 'messages[0].content'."},
          {R"([{"role": "tool", "tool_call_id": "c", "content": null}])", "messages[0].content",
           "missing_required_parameter", "Missing required parameter"},
          {R"([{"role": "tool", "tool_call_id": "c", "content": []}])", "messages[0].content",
           "empty_array", "empty array"},
          {R"([{"role": "tool", "tool_call_id": "c", "content": "x", "tool_calls": []}])",
           "messages[0].tool_calls", "unknown_parameter",
           "Unrecognized argument supplied in 'messages[0]': tool_calls"},
          {R"([{"role": "user", "content": "x", "tool_call_id": "c"}])", "messages[0].tool_call_id",
           "unknown_parameter", "Unrecognized argument supplied in 'messages[0]': tool_call_id"},
          {R"([{"role": "user", "content": "x", "tool_calls": []}])", "messages[0].tool_calls",
           "unknown_parameter", "Unrecognized argument supplied in 'messages[0]': tool_calls"},
          {R"([{"role": "assistant", "content": "x", "function_call": {"name": "f", "arguments": "{}"}}])",
           "messages[0].function_call", "unsupported_parameter", "use 'tool_calls'"},
          {R"([{"role": "assistant", "content": "x", "tool_call_id": "c"}])",
           "messages[0].tool_call_id", "unknown_parameter", "Unrecognized argument"},
      }) {
    SCOPED_TRACE(c.messages);
    const ApiError e = message_error(c.messages);
    EXPECT_EQ(e.status, 400);
    EXPECT_EQ(e.param, c.param);
    EXPECT_EQ(e.code, c.code);
    EXPECT_TRUE(contains(e.message, c.text)) << e.message;
  }
  // The second call of a message is named by its index.
  const ApiError e = message_error(
      call(R"({"id": "a", "type": "function", )" + ok_function +
           R"(}, {"id": "b", "type": "function", "function": {"name": "g", "arguments": "1"}})"));
  EXPECT_EQ(e.param, "messages[0].tool_calls[1].function.arguments");
  // function_call: null on an assistant message changes nothing.
  messages_ok(R"([{"role": "assistant", "content": "x", "function_call": null}])");
}

}  // namespace
}  // namespace shardserve::api

namespace shardserve::api {
namespace {

TEST(ChatRequestReasoning, AnEarlierTurnsThinkingIsAcceptedAndRendered) {
  const ChatCompletionRequest r = parse_ok(
      R"({"model": "m", "messages": [{"role": "user", "content": "2+2?"},
          {"role": "assistant", "content": "4", "reasoning_content": "two pairs"},
          {"role": "user", "content": "and 3+3?"}]})");
  EXPECT_EQ(r.messages[1].reasoning_content, "two pairs");
  EXPECT_EQ(chat_messages_json(r.messages)[1]["reasoning_content"], "two pairs");
  EXPECT_FALSE(chat_messages_json(r.messages)[0].contains("reasoning_content"));
  const ApiError e = parse_error(
      R"({"model": "m", "messages": [{"role": "user", "content": "x", "reasoning_content": "y"}]})");
  EXPECT_EQ(e.param, "messages[0].reasoning_content");
}

}  // namespace
}  // namespace shardserve::api
