#include <limits>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "api/openai_error.h"
#include "api/openai_response.h"

namespace shardserve::api {
namespace {

using json = nlohmann::json;

ResponseMeta meta(bool include_usage = false) {
  ResponseMeta m;
  m.id = "chatcmpl-abc";
  m.created = 1700000000;
  m.model = "smol";
  m.include_usage = include_usage;
  return m;
}

std::vector<std::string> keys(const ordered_json& object) {
  std::vector<std::string> out;
  for (const auto& [k, v] : object.items()) out.push_back(k);
  return out;
}

using Keys = std::vector<std::string>;

TEST(ChatResponse, ShapeAndKeyOrder) {
  const std::vector<ChatChoice> choices = {{0, "Hello", FinishReason::Stop, std::nullopt},
                                           {1, "Hi", FinishReason::Length, std::nullopt}};
  const ordered_json j = chat_completion(meta(), choices, {10, 4});
  EXPECT_EQ(keys(j),
            (Keys{"id", "object", "created", "model", "system_fingerprint", "choices", "usage"}));
  EXPECT_EQ(j["id"], "chatcmpl-abc");
  EXPECT_EQ(j["object"], "chat.completion");
  EXPECT_EQ(j["created"], 1700000000);
  EXPECT_EQ(j["model"], "smol");
  EXPECT_EQ(j["system_fingerprint"], "fp_shardserve");
  ASSERT_EQ(j["choices"].size(), 2u);
  const auto& c0 = j["choices"][0];
  EXPECT_EQ(keys(c0), (Keys{"index", "message", "logprobs", "finish_reason"}));
  EXPECT_EQ(c0["index"], 0);
  EXPECT_EQ(keys(c0["message"]), (Keys{"role", "content", "refusal"}));
  EXPECT_EQ(c0["message"]["role"], "assistant");
  EXPECT_EQ(c0["message"]["content"], "Hello");
  EXPECT_TRUE(c0["message"]["refusal"].is_null());
  EXPECT_TRUE(c0["logprobs"].is_null());
  EXPECT_EQ(c0["finish_reason"], "stop");
  EXPECT_EQ(j["choices"][1]["finish_reason"], "length");
  EXPECT_EQ(j["usage"],
            ordered_json::parse(R"({"prompt_tokens": 10, "completion_tokens": 4, "total_tokens": 14,
                              "prompt_tokens_details": {"cached_tokens": 0}})"));
}

TEST(ChatResponse, NoFingerprintWhenEmpty) {
  ResponseMeta m = meta();
  m.system_fingerprint.clear();
  const ordered_json j = chat_completion(m, {}, {});
  EXPECT_FALSE(j.contains("system_fingerprint"));
  EXPECT_TRUE(j["choices"].is_array());
  EXPECT_TRUE(j["choices"].empty());
}

TEST(ChatResponse, Logprobs) {
  const std::vector<TokenLogprobs> tokens = {
      {"Hi", -0.5, {{"Hi", -0.5}, {"Yo", -1.25}}},
      {"\xc3", -std::numeric_limits<double>::infinity(), {}},
  };
  const std::vector<ChatChoice> choices = {{0, "Hi", FinishReason::Stop, tokens}};
  const ordered_json j = chat_completion(meta(), choices, {1, 2});
  const auto& lp = j["choices"][0]["logprobs"];
  EXPECT_EQ(keys(lp), (Keys{"content", "refusal"}));
  EXPECT_TRUE(lp["refusal"].is_null());
  ASSERT_EQ(lp["content"].size(), 2u);
  const auto& t0 = lp["content"][0];
  EXPECT_EQ(keys(t0), (Keys{"token", "logprob", "bytes", "top_logprobs"}));
  EXPECT_EQ(t0["token"], "Hi");
  EXPECT_EQ(t0["logprob"], -0.5);
  EXPECT_EQ(t0["bytes"], ordered_json::parse("[72, 105]"));
  ASSERT_EQ(t0["top_logprobs"].size(), 2u);
  EXPECT_EQ(keys(t0["top_logprobs"][1]), (Keys{"token", "logprob", "bytes"}));
  EXPECT_EQ(t0["top_logprobs"][1]["token"], "Yo");
  EXPECT_EQ(t0["top_logprobs"][1]["logprob"], -1.25);
  const auto& t1 = lp["content"][1];
  EXPECT_EQ(t1["logprob"], -9999.0);  // JSON has no -inf
  EXPECT_EQ(t1["bytes"], ordered_json::parse("[195]"));
  EXPECT_TRUE(t1["top_logprobs"].is_array());
  // A partial UTF-8 token serialises (replaced), it does not throw.
  const std::string body = dump_json(j);
  EXPECT_NE(body.find("\"token\":\"\xef\xbf\xbd\""), std::string::npos) << body;
  EXPECT_TRUE(json::accept(body));
}

TEST(ChatChunks, RoleContentFinishUsage) {
  const ordered_json role = chat_chunk_role(meta(), 0);
  EXPECT_EQ(keys(role),
            (Keys{"id", "object", "created", "model", "system_fingerprint", "choices"}));
  EXPECT_EQ(role["object"], "chat.completion.chunk");
  ASSERT_EQ(role["choices"].size(), 1u);
  EXPECT_EQ(keys(role["choices"][0]), (Keys{"index", "delta", "logprobs", "finish_reason"}));
  EXPECT_EQ(role["choices"][0]["delta"],
            ordered_json::parse(R"({"role":"assistant","content":""})"));
  EXPECT_TRUE(role["choices"][0]["logprobs"].is_null());
  EXPECT_TRUE(role["choices"][0]["finish_reason"].is_null());

  const ordered_json content = chat_chunk_content(meta(), 2, "lo");
  EXPECT_EQ(content["choices"][0]["index"], 2);
  EXPECT_EQ(content["choices"][0]["delta"], ordered_json::parse(R"({"content":"lo"})"));
  EXPECT_TRUE(content["choices"][0]["finish_reason"].is_null());

  const std::vector<TokenLogprobs> lp = {{"lo", -0.1, {}}};
  const ordered_json with_lp = chat_chunk_content(meta(), 0, "lo", &lp);
  EXPECT_EQ(with_lp["choices"][0]["logprobs"]["content"][0]["token"], "lo");

  const ordered_json finish = chat_chunk_finish(meta(), 1, FinishReason::Length);
  EXPECT_TRUE(finish["choices"][0]["delta"].is_object());
  EXPECT_TRUE(finish["choices"][0]["delta"].empty());
  EXPECT_EQ(dump_json(finish["choices"][0]["delta"]), "{}");
  EXPECT_EQ(finish["choices"][0]["finish_reason"], "length");
  EXPECT_FALSE(finish.contains("usage"));

  const ordered_json usage = chat_chunk_usage(meta(true), {3, 5});
  EXPECT_EQ(keys(usage),
            (Keys{"id", "object", "created", "model", "system_fingerprint", "choices", "usage"}));
  EXPECT_TRUE(usage["choices"].is_array());
  EXPECT_TRUE(usage["choices"].empty());
  EXPECT_EQ(usage["usage"]["total_tokens"], 8);
}

TEST(ChatChunks, UsageIsNullOnEveryOtherChunkWhenIncluded) {
  const ResponseMeta m = meta(true);
  for (const ordered_json& chunk : {chat_chunk_role(m, 0), chat_chunk_content(m, 0, "x"),
                                    chat_chunk_finish(m, 0, FinishReason::Stop)}) {
    ASSERT_TRUE(chunk.contains("usage"));
    EXPECT_TRUE(chunk["usage"].is_null());
    EXPECT_EQ(keys(chunk).back(), "usage");
  }
}

TEST(ChatResponse, ToolCallsInOpenAIShape) {
  std::vector<ChatChoice> choices(2);
  choices[0].finish = FinishReason::ToolCalls;
  choices[0].tool_calls = {{"call_a", "get_weather", R"({"city":"Paris"})"},
                           {"call_b", "now", "{}"}};
  choices[1].index = 1;
  choices[1].content = "Let me check.";
  choices[1].finish = FinishReason::ToolCalls;
  choices[1].tool_calls = {{"call_c", "now", "{}"}};
  const ordered_json j = chat_completion(meta(), choices, {10, 4});
  const auto& m0 = j["choices"][0]["message"];
  EXPECT_EQ(keys(m0), (Keys{"role", "content", "tool_calls", "refusal"}));
  EXPECT_TRUE(m0["content"].is_null());  // no text: null, as OpenAI sends it
  EXPECT_EQ(dump_json(m0["tool_calls"]),
            R"([{"id":"call_a","type":"function","function":{"name":"get_weather",)"
            R"("arguments":"{\"city\":\"Paris\"}"}},)"
            R"({"id":"call_b","type":"function","function":{"name":"now","arguments":"{}"}}])");
  EXPECT_EQ(j["choices"][0]["finish_reason"], "tool_calls");
  const auto& m1 = j["choices"][1]["message"];
  EXPECT_EQ(m1["content"], "Let me check.");
  EXPECT_EQ(m1["tool_calls"][0]["id"], "call_c");
  // Without tool calls an empty text stays "".
  const std::vector<ChatChoice> empty = {{0, "", FinishReason::Length, std::nullopt}};
  const ordered_json e = chat_completion(meta(), empty, {1, 0});
  EXPECT_EQ(keys(e["choices"][0]["message"]), (Keys{"role", "content", "refusal"}));
  EXPECT_EQ(e["choices"][0]["message"]["content"], "");
}

TEST(ChatResponse, ReasoningContentApartFromTheContent) {
  ChatChoice c;
  c.content = "4";
  c.reasoning_content = "2 + 2";
  const ordered_json r = chat_completion(meta(false), std::vector<ChatChoice>{c}, {1, 2});
  EXPECT_EQ(r["choices"][0]["message"]["content"], "4");
  EXPECT_EQ(r["choices"][0]["message"]["reasoning_content"], "2 + 2");
  c.reasoning_content.clear();
  const ordered_json plain = chat_completion(meta(false), std::vector<ChatChoice>{c}, {1, 2});
  EXPECT_FALSE(plain["choices"][0]["message"].contains("reasoning_content"));
  const ordered_json chunk = chat_chunk_reasoning(meta(false), 0, "hmm");
  EXPECT_EQ(dump_json(chunk["choices"][0]["delta"]), R"({"reasoning_content":"hmm"})");
}

TEST(ChatChunks, ToolCallStartArgumentsAndFinish) {
  const ordered_json start = chat_chunk_tool_call(meta(), 1, 2, "call_x", "get_weather");
  EXPECT_EQ(keys(start),
            (Keys{"id", "object", "created", "model", "system_fingerprint", "choices"}));
  EXPECT_EQ(start["choices"][0]["index"], 1);
  EXPECT_EQ(dump_json(start["choices"][0]["delta"]),
            R"({"tool_calls":[{"index":2,"id":"call_x","type":"function",)"
            R"("function":{"name":"get_weather","arguments":""}}]})");
  EXPECT_TRUE(start["choices"][0]["logprobs"].is_null());
  EXPECT_TRUE(start["choices"][0]["finish_reason"].is_null());

  const ordered_json piece = chat_chunk_tool_arguments(meta(), 1, 2, R"({"city": ")");
  EXPECT_EQ(dump_json(piece["choices"][0]["delta"]),
            R"({"tool_calls":[{"index":2,"function":{"arguments":"{\"city\": \""}}]})");
  EXPECT_TRUE(piece["choices"][0]["finish_reason"].is_null());

  const ordered_json finish = chat_chunk_finish(meta(), 1, FinishReason::ToolCalls);
  EXPECT_EQ(dump_json(finish["choices"][0]["delta"]), "{}");
  EXPECT_EQ(finish["choices"][0]["finish_reason"], "tool_calls");

  // With include_usage, "usage": null as on every other chunk.
  for (const ordered_json& chunk : {chat_chunk_tool_call(meta(true), 0, 0, "call_y", "f"),
                                    chat_chunk_tool_arguments(meta(true), 0, 0, "{}")}) {
    ASSERT_TRUE(chunk.contains("usage"));
    EXPECT_TRUE(chunk["usage"].is_null());
  }
}

TEST(ChatChunks, ArgumentPiecesWithPartialUtf8Serialise) {
  // A piece may end inside a UTF-8 sequence; dump_json replaces the bytes instead of throwing.
  const ordered_json piece = chat_chunk_tool_arguments(meta(), 0, 0, "{\"c\": \"\xe2\x82");
  EXPECT_TRUE(json::accept(dump_json(piece)));
}

TEST(FinishReasons, Names) {
  EXPECT_EQ(to_string(FinishReason::Stop), "stop");
  EXPECT_EQ(to_string(FinishReason::Length), "length");
  EXPECT_EQ(to_string(FinishReason::ToolCalls), "tool_calls");
}

TEST(CompletionResponse, ShapeAndKeyOrder) {
  ResponseMeta m = meta();
  m.id = "cmpl-xyz";
  const std::vector<CompletionChoice> choices = {{0, " there", FinishReason::Length, std::nullopt}};
  const ordered_json j = completion(m, choices, {2, 16});
  EXPECT_EQ(keys(j),
            (Keys{"id", "object", "created", "model", "system_fingerprint", "choices", "usage"}));
  EXPECT_EQ(j["object"], "text_completion");
  EXPECT_EQ(keys(j["choices"][0]), (Keys{"text", "index", "logprobs", "finish_reason"}));
  EXPECT_EQ(j["choices"][0]["text"], " there");
  EXPECT_TRUE(j["choices"][0]["logprobs"].is_null());
  EXPECT_EQ(j["choices"][0]["finish_reason"], "length");
  EXPECT_EQ(j["usage"]["total_tokens"], 18);
}

TEST(CompletionResponse, Logprobs) {
  const std::vector<TokenLogprobs> tokens = {{"Hel", -0.5, {{"Hel", -0.5}, {"Hi", -2.0}}},
                                             {"lo", -0.25, {{"lo", -0.25}}}};
  const ordered_json lp = completion_logprobs(tokens, 10);
  EXPECT_EQ(keys(lp), (Keys{"tokens", "token_logprobs", "top_logprobs", "text_offset"}));
  EXPECT_EQ(lp["tokens"], ordered_json::parse(R"(["Hel", "lo"])"));
  EXPECT_EQ(lp["token_logprobs"], ordered_json::parse("[-0.5, -0.25]"));
  EXPECT_EQ(lp["top_logprobs"],
            ordered_json::parse(R"([{"Hel": -0.5, "Hi": -2.0}, {"lo": -0.25}])"));
  EXPECT_EQ(lp["text_offset"], ordered_json::parse("[10, 13]"));
}

TEST(CompletionResponse, AnEchoedFirstTokenHasNullLogprobs) {
  std::vector<TokenLogprobs> tokens = {{"Once", 0, {}}, {" upon", -3.5, {{" upon", -3.5}}}};
  tokens[0].unscored = true;
  const ordered_json lp = completion_logprobs(tokens);
  EXPECT_EQ(lp["token_logprobs"], ordered_json::parse("[null, -3.5]"));
  EXPECT_EQ(lp["top_logprobs"], ordered_json::parse(R"([null, {" upon": -3.5}])"));
  EXPECT_EQ(lp["text_offset"], ordered_json::parse("[0, 4]"));
}

TEST(CompletionResponse, TokenOffsetsWinOverCounting) {
  std::vector<TokenLogprobs> tokens = {{"a", -1, {}}, {"<eos>", -1, {}}, {"b", -1, {}}};
  tokens[1].text_offset = 1;  // a special token: no text
  tokens[2].text_offset = 1;
  EXPECT_EQ(completion_logprobs(tokens)["text_offset"], ordered_json::parse("[0, 1, 1]"));
}

TEST(CompletionChunks, TextFinishAndUsage) {
  const ordered_json piece = completion_chunk(meta(), 0, "Hel", std::nullopt);
  EXPECT_EQ(keys(piece),
            (Keys{"id", "object", "created", "model", "system_fingerprint", "choices"}));
  EXPECT_EQ(piece["object"], "text_completion");
  EXPECT_EQ(keys(piece["choices"][0]), (Keys{"text", "index", "logprobs", "finish_reason"}));
  EXPECT_TRUE(piece["choices"][0]["finish_reason"].is_null());

  const ordered_json last = completion_chunk(meta(true), 3, "", FinishReason::Stop);
  EXPECT_EQ(last["choices"][0]["index"], 3);
  EXPECT_EQ(last["choices"][0]["finish_reason"], "stop");
  EXPECT_TRUE(last["usage"].is_null());

  const std::vector<TokenLogprobs> tokens = {{"lo", -0.25, {}}};
  const ordered_json with_lp = completion_chunk(meta(), 0, "lo", std::nullopt, &tokens, 3);
  EXPECT_EQ(with_lp["choices"][0]["logprobs"]["text_offset"], ordered_json::parse("[3]"));

  const ordered_json usage = completion_chunk_usage(meta(true), {4, 4});
  EXPECT_TRUE(usage["choices"].empty());
  EXPECT_EQ(usage["usage"]["prompt_tokens"], 4);
}

TEST(Models, ListAndSingle) {
  const std::vector<ModelInfo> models = {{"a", 1, "shardserve"}, {"b", 2, "me"}};
  const ordered_json one = model_object(models[1]);
  EXPECT_EQ(dump_json(one), R"({"id":"b","object":"model","created":2,"owned_by":"me"})");
  EXPECT_EQ(dump_json(model_object({"c", 3, "shardserve", 8192})),
            R"({"id":"c","object":"model","created":3,"owned_by":"shardserve",)"
            R"("max_model_len":8192})");
  const ordered_json list = model_list(models);
  EXPECT_EQ(keys(list), (Keys{"object", "data"}));
  EXPECT_EQ(list["object"], "list");
  ASSERT_EQ(list["data"].size(), 2u);
  EXPECT_EQ(list["data"][0]["id"], "a");
  EXPECT_EQ(dump_json(model_list({})), R"({"object":"list","data":[]})");
}

TEST(FinishReasonNames, MatchOpenAI) {
  EXPECT_EQ(to_string(FinishReason::Stop), "stop");
  EXPECT_EQ(to_string(FinishReason::Length), "length");
}

}  // namespace
}  // namespace shardserve::api
