#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "api/openai_request.h"

namespace shardserve::api {
namespace {

std::string completion(const std::string& extra = "", const std::string& prompt = "\"Once\"") {
  std::string body = R"({"model": "smol", "prompt": )" + prompt + "}";
  if (!extra.empty()) body.insert(body.size() - 1, ", " + extra);
  return body;
}

CompletionRequest parse_ok(const std::string& body) {
  auto r = parse_completion_request(body);
  EXPECT_TRUE(r.ok()) << body << "\n -> " << (r.ok() ? "" : r.error().message);
  return r.ok() ? r.value() : CompletionRequest{};
}

ApiError parse_error(const std::string& body) {
  auto r = parse_completion_request(body);
  EXPECT_FALSE(r.ok()) << body;
  return r.ok() ? ApiError{} : r.error();
}

bool contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

const std::string& text(const Prompt& p) {
  return std::get<std::string>(p);
}
const std::vector<int32_t>& ids(const Prompt& p) {
  return std::get<std::vector<int32_t>>(p);
}

TEST(CompletionRequest, MinimalRequestHasDefaults) {
  const auto req = parse_ok(completion());
  EXPECT_EQ(req.model, "smol");
  ASSERT_EQ(req.prompts.size(), 1u);
  EXPECT_EQ(text(req.prompts[0]), "Once");
  EXPECT_FALSE(req.options.max_tokens.has_value());
  EXPECT_EQ(req.options.n, 1);
  EXPECT_FALSE(req.options.logprobs);
  EXPECT_EQ(req.options.top_logprobs, 0);
  EXPECT_FALSE(req.options.stream);
}

TEST(CompletionRequest, PromptForms) {
  auto req = parse_ok(completion("", R"(["a", "b", ""])"));
  ASSERT_EQ(req.prompts.size(), 3u);
  EXPECT_EQ(text(req.prompts[1]), "b");
  EXPECT_EQ(text(req.prompts[2]), "");

  req = parse_ok(completion("", "[1, 2, 3]"));
  ASSERT_EQ(req.prompts.size(), 1u);
  EXPECT_EQ(ids(req.prompts[0]), (std::vector<int32_t>{1, 2, 3}));

  req = parse_ok(completion("", "[[1, 2], [0], [2147483647]]"));
  ASSERT_EQ(req.prompts.size(), 3u);
  EXPECT_EQ(ids(req.prompts[0]), (std::vector<int32_t>{1, 2}));
  EXPECT_EQ(ids(req.prompts[2]), (std::vector<int32_t>{2147483647}));

  EXPECT_EQ(text(parse_ok(completion("", "\"\"")).prompts[0]), "");
}

TEST(CompletionRequest, BadPrompts) {
  struct Case {
    const char* prompt;
    const char* param;
    const char* text;
  };
  for (const Case& c : std::vector<Case>{
           {"5", "prompt",
            "expected a string, an array of strings, an array of token ids or an "
            "array of token-id arrays, but got an integer"},
           {"{}", "prompt", "but got an object"},
           {"true", "prompt", "but got a boolean"},
           {"[]", "prompt", "empty array"},
           {"[[]]", "prompt[0]", "empty array"},
           {"[1, \"a\"]", "prompt[1]", "expected an integer, but got a string"},
           {"[1, null]", "prompt[1]", "expected an integer token id, but got null"},
           {"[\"a\", 1]", "prompt[1]", "expected a string, but got an integer"},
           {"[[1], \"a\"]", "prompt[1]", "expected an array of token ids, but got a string"},
           {"[[1], [\"a\"]]", "prompt[1][0]", "expected an integer"},
           {"[-1]", "prompt[0]", "Expected a value >= 0"},
           {"[2147483648]", "prompt[0]", "Expected a value <= 2147483647"},
           {"[1.5]", "prompt[0]", "expected an integer, but got a decimal"},
           {"[[1, -3]]", "prompt[0][1]", "Expected a value >= 0"},
           {"[null]", "prompt[0]", "but got null"},
           {"[{}]", "prompt[0]", "but got an object"},
       }) {
    SCOPED_TRACE(c.prompt);
    const ApiError e = parse_error(completion("", c.prompt));
    EXPECT_EQ(e.status, 400);
    EXPECT_EQ(e.param, c.param);
    EXPECT_TRUE(contains(e.message, c.text)) << e.message;
  }
  ApiError e = parse_error(R"({"model": "m"})");
  EXPECT_EQ(e.message, "Missing required parameter: 'prompt'.");
  e = parse_error(R"({"model": "m", "prompt": null})");
  EXPECT_EQ(e.param, "prompt");
  e = parse_error(R"({"prompt": "x"})");
  EXPECT_EQ(e.param, "model");
}

TEST(CompletionRequest, TooManyPrompts) {
  std::string many = "[";
  for (int i = 0; i <= kMaxPrompts; ++i) many += std::string(i ? "," : "") + "\"p\"";
  many += "]";
  const ApiError e = parse_error(completion("", many));
  EXPECT_EQ(e.param, "prompt");
  EXPECT_TRUE(contains(e.message, "array too long")) << e.message;
  // One prompt of many token ids is fine.
  std::string long_ids = "[";
  for (int i = 0; i < 1000; ++i) long_ids += std::string(i ? "," : "") + "7";
  long_ids += "]";
  EXPECT_EQ(ids(parse_ok(completion("", long_ids)).prompts[0]).size(), 1000u);
}

TEST(CompletionRequest, PromptsTimesNIsBounded) {
  std::string prompts = "[";
  for (int i = 0; i < 5; ++i) prompts += std::string(i ? "," : "") + "\"p\"";
  prompts += "]";
  EXPECT_EQ(parse_ok(completion(R"("n": 12)", prompts)).prompts.size(), 5u);  // 60 choices
  const ApiError e = parse_error(completion(R"("n": 13)", prompts));          // 65 choices
  EXPECT_EQ(e.param, "n");
  EXPECT_TRUE(contains(e.message, "at most 64")) << e.message;
}

TEST(CompletionRequest, SharedParameters) {
  const auto req = parse_ok(completion(
      R"("max_tokens": 32, "temperature": 0, "top_p": 0.5, "top_k": 5, "min_p": 0.1,
         "repetition_penalty": 1.3, "presence_penalty": 1, "frequency_penalty": -1,
         "logit_bias": {"3": 2}, "seed": 7, "n": 2, "stop": "\n", "stream": true,
         "stream_options": {"include_usage": true}, "user": "u", "ignore_eos": true)"));
  const auto& o = req.options;
  EXPECT_EQ(o.max_tokens, 32);
  EXPECT_EQ(o.temperature, 0.0);
  EXPECT_EQ(o.top_p, 0.5);
  EXPECT_EQ(o.top_k, 5);
  EXPECT_EQ(o.min_p, 0.1);
  EXPECT_EQ(o.repetition_penalty, 1.3);
  EXPECT_EQ(o.presence_penalty, 1.0);
  EXPECT_EQ(o.frequency_penalty, -1.0);
  EXPECT_EQ(o.logit_bias.size(), 1u);
  EXPECT_EQ(o.seed, 7);
  EXPECT_EQ(o.n, 2);
  EXPECT_EQ(o.stop, std::vector<std::string>{"\n"});
  EXPECT_TRUE(o.stream);
  EXPECT_TRUE(o.include_usage);
  EXPECT_EQ(o.user, "u");
  EXPECT_TRUE(o.ignore_eos);
}

TEST(CompletionRequest, LogprobsIsAnIntegerUpToFive) {
  auto req = parse_ok(completion(R"("logprobs": 0)"));
  EXPECT_TRUE(req.options.logprobs);
  EXPECT_EQ(req.options.top_logprobs, 0);
  req = parse_ok(completion(R"("logprobs": 5)"));
  EXPECT_TRUE(req.options.logprobs);
  EXPECT_EQ(req.options.top_logprobs, 5);
  req = parse_ok(completion(R"("logprobs": null)"));
  EXPECT_FALSE(req.options.logprobs);

  ApiError e = parse_error(completion(R"("logprobs": 6)"));
  EXPECT_EQ(e.param, "logprobs");
  EXPECT_TRUE(contains(e.message, "Expected a value <= 5")) << e.message;
  e = parse_error(completion(R"("logprobs": -1)"));
  EXPECT_EQ(e.param, "logprobs");
  e = parse_error(completion(R"("logprobs": true)"));
  EXPECT_EQ(e.message,
            "Invalid type for 'logprobs': expected an integer, but got a boolean instead.");
  // top_logprobs belongs to chat.
  EXPECT_EQ(parse_error(completion(R"("top_logprobs": 2)")).param, "top_logprobs");
}

TEST(CompletionRequest, WrongTypesAndRanges) {
  struct Case {
    const char* extra;
    const char* param;
    const char* text;
  };
  for (const Case& c : std::vector<Case>{
           {R"("max_tokens": "16")", "max_tokens", "expected an integer, but got a string"},
           {R"("max_tokens": -1)", "max_tokens", "Expected a value >= 0"},
           {R"("temperature": 3)", "temperature", "Expected a value <= 2"},
           {R"("top_p": "1")", "top_p", "expected a number"},
           {R"("n": 0)", "n", "Expected a value >= 1"},
           {R"("stop": ["a", "b", "c", "d", "e"])", "stop", "array too long"},
           {R"("stream": "yes")", "stream", "expected a boolean"},
           {R"("stream_options": {"include_usage": true})", "stream_options",
            "only allowed when 'stream' is enabled"},
           {R"("echo": "no")", "echo", "expected a boolean"},
           {R"("suffix": 1)", "suffix", "expected a string"},
           {R"("best_of": 0)", "best_of", "Expected a value >= 1"},
           {R"("best_of": "2")", "best_of", "expected an integer"},
       }) {
    SCOPED_TRACE(c.extra);
    const ApiError e = parse_error(completion(c.extra));
    EXPECT_EQ(e.status, 400);
    EXPECT_EQ(e.param, c.param);
    EXPECT_TRUE(contains(e.message, c.text)) << e.message;
  }
}

// How evaluation harnesses score a continuation: echo the prompt with its logprobs, generate
// nothing.
TEST(CompletionRequest, EchoWithLogprobsAndNoTokens) {
  const CompletionRequest req =
      parse_ok(completion(R"("echo": true, "max_tokens": 0, "logprobs": 1)"));
  EXPECT_TRUE(req.options.echo);
  EXPECT_EQ(req.options.max_tokens, 0);
  EXPECT_TRUE(req.options.logprobs);
  EXPECT_EQ(req.options.top_logprobs, 1);
  EXPECT_FALSE(parse_ok(completion(R"("echo": false)")).options.echo);
}

TEST(CompletionRequest, UnsupportedParameters) {
  struct Case {
    const char* extra;
    const char* param;
  };
  for (const Case& c : std::vector<Case>{
           {R"("suffix": "end")", "suffix"},
           {R"("best_of": 3)", "best_of"},
           {R"("n": 2, "best_of": 3)", "best_of"},
       }) {
    SCOPED_TRACE(c.extra);
    const ApiError e = parse_error(completion(c.extra));
    EXPECT_EQ(e.param, c.param);
    EXPECT_EQ(e.code, "unsupported_parameter");
    EXPECT_TRUE(contains(e.message, "Unsupported parameter: '" + std::string(c.param) + "'"))
        << e.message;
  }
  for (const char* extra : {R"("suffix": "")", R"("suffix": null)", R"("best_of": 1)",
                            R"("n": 3, "best_of": 3)", R"("best_of": null)"}) {
    SCOPED_TRACE(extra);
    parse_ok(completion(extra));
  }
}

TEST(CompletionRequest, UnknownAndChatOnlyKeysAreUnrecognized) {
  for (const char* key : {"messages", "tools", "max_completion_tokens", "response_format", "foo"}) {
    SCOPED_TRACE(key);
    std::string extra = "\"";
    extra.append(key).append("\": 1");
    const ApiError e = parse_error(completion(extra));
    EXPECT_EQ(e.message, "Unrecognized request argument supplied: " + std::string(key));
    EXPECT_EQ(e.param, key);
  }
}

TEST(CompletionRequest, MalformedBodies) {
  for (const char* body : {"", "{", "[]", "{\"prompt\": \"\xff\"}", "{\"model\": \"m\" \"x\"}"}) {
    SCOPED_TRACE(body);
    const ApiError e = parse_error(body);
    EXPECT_EQ(e.status, 400);
    EXPECT_FALSE(e.message.empty());
  }
}

}  // namespace
}  // namespace shardserve::api
