// Tests of tool calling (tool_calls.h): format detection on the real chat templates of
// model/chat_template/testdata, the grammars run through the production GBNF matcher
// (model/grammar/), the whole-answer parser, and the streaming parser fed every split of the
// answers, which must reassemble into exactly the whole-answer parse.
#include "coordinator/serving/tool_calls.h"

#include <gtest/gtest.h>

#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "model/grammar/grammar.h"
#include "model/grammar/matcher.h"

namespace shardserve {
namespace {

using api::ToolChoice;
using api::ToolFunction;
using Kind = ToolCallEvent::Kind;
using nlohmann::ordered_json;

std::string read_template(const std::string& name) {
  std::ifstream in("model/chat_template/testdata/" + name + ".jinja", std::ios::binary);
  EXPECT_TRUE(in.good()) << name;
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::vector<ToolFunction> weather_tools() {
  ToolFunction weather{.name = "get_weather",
                       .description = "The weather in a city.",
                       .parameters = ordered_json::parse(R"({
        "type": "object",
        "properties": {"city": {"type": "string"},
                       "unit": {"type": "string", "enum": ["c", "f"]}},
        "required": ["city"], "additionalProperties": false})"),
                       .strict = false};
  ToolFunction time{.name = "get_time",
                    .description = "",
                    .parameters = ordered_json::parse(R"({
        "type": "object", "properties": {"zone": {"type": "integer"}},
        "required": ["zone"]})"),
                    .strict = false};
  ToolFunction anything{.name = "log-event", .description = "", .parameters = {}, .strict = false};
  return {weather, time, anything};
}

ToolChoice choice(ToolChoice::Mode mode, std::string function = {}) {
  return ToolChoice{.mode = mode, .function = std::move(function)};
}
const ToolChoice kAuto = choice(ToolChoice::Mode::kAuto);
const ToolChoice kRequired = choice(ToolChoice::Mode::kRequired);

// A reasoning model's grammar (an optional leading <think> block).
std::string grammar_for(ToolFormat format, const ToolChoice& c, bool parallel = true) {
  auto g = tool_call_grammar(format, weather_tools(), c, parallel, {.reasoning = true});
  EXPECT_TRUE(g.ok()) << g.error().message;
  return g.ok() ? *g : std::string();
}

// Whether the grammar matches the whole text.
bool accepts(const std::string& gbnf, std::string_view text) {
  auto grammar = Grammar::parse(gbnf);
  EXPECT_TRUE(grammar.ok()) << (grammar.ok() ? "" : grammar.error().message) << "\n" << gbnf;
  if (!grammar.ok()) return false;
  GrammarMatcher matcher(*grammar);
  return matcher.accept(text) && matcher.can_end();
}

// ---- Detection ----

TEST(DetectToolFormat, RealTemplates) {
  EXPECT_EQ(detect_tool_format(read_template("qwen2.5")), ToolFormat::kHermes);
  EXPECT_EQ(detect_tool_format(read_template("qwen3")), ToolFormat::kHermes);
  EXPECT_EQ(detect_tool_format(read_template("llama3.2")), ToolFormat::kLlama3Json);
  EXPECT_EQ(detect_tool_format(read_template("mistral_nemo")), ToolFormat::kMistral);
  EXPECT_EQ(detect_tool_format(read_template("smollm2")), ToolFormat::kGeneric);
  EXPECT_EQ(detect_tool_format(read_template("gemma3")), ToolFormat::kGeneric);
  EXPECT_EQ(detect_tool_format(read_template("gemma2")), ToolFormat::kGeneric);
  EXPECT_EQ(detect_tool_format(read_template("phi3.5")), ToolFormat::kGeneric);
}

TEST(DetectToolFormat, Llama3WithoutToolsIsGeneric) {
  EXPECT_EQ(detect_tool_format("{{ '<|start_header_id|>' + m.role + '<|end_header_id|>' }}"),
            ToolFormat::kGeneric);
  EXPECT_EQ(detect_tool_format(""), ToolFormat::kGeneric);
}

// ---- Grammars ----

const char* const kHermesCall =
    "<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\"}}\n</tool_call>";
const char* const kHermesCall2 =
    "<tool_call>\n{\"name\": \"get_time\", \"arguments\": {\"zone\": 2}}\n</tool_call>";

TEST(ToolCallGrammar, NoneAndNoTools) {
  auto none = tool_call_grammar(ToolFormat::kHermes, weather_tools(),
                                choice(ToolChoice::Mode::kNone), true);
  ASSERT_TRUE(none.ok());
  EXPECT_EQ(*none, "");
  auto empty = tool_call_grammar(ToolFormat::kHermes, {}, kAuto, true);
  ASSERT_TRUE(empty.ok());
  EXPECT_EQ(*empty, "");
  EXPECT_FALSE(tool_call_grammar(ToolFormat::kHermes, {}, kRequired, true).ok());
}

TEST(ToolCallGrammar, Errors) {
  auto unknown = tool_call_grammar(ToolFormat::kHermes, weather_tools(),
                                   choice(ToolChoice::Mode::kFunction, "nope"), true);
  ASSERT_FALSE(unknown.ok());
  EXPECT_EQ(unknown.error().code, ErrorCode::kInvalidInput);
  EXPECT_NE(unknown.error().message.find("'nope'"), std::string::npos);

  auto tools = weather_tools();
  tools[1].parameters = ordered_json::parse(R"({"type": "integer", "multipleOf": 3})");
  auto bad = tool_call_grammar(ToolFormat::kGeneric, tools, kAuto, true);
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().code, ErrorCode::kInvalidInput);
  EXPECT_EQ(bad.error().message.rfind("tools[1].function.parameters", 0), 0u)
      << bad.error().message;
  // Only the tools tool_choice allows are compiled.
  EXPECT_TRUE(tool_call_grammar(ToolFormat::kGeneric, tools,
                                choice(ToolChoice::Mode::kFunction, "get_weather"), true)
                  .ok());
}

TEST(ToolCallGrammar, HermesAuto) {
  const std::string g = grammar_for(ToolFormat::kHermes, kAuto);
  EXPECT_TRUE(accepts(g, ""));
  EXPECT_TRUE(accepts(g, "The weather is fine. <tool < tool_call> <tool_call"));
  EXPECT_TRUE(accepts(g, kHermesCall));
  EXPECT_TRUE(accepts(g, std::string("Let me check.\n") + kHermesCall + "\n" + kHermesCall2));
  EXPECT_TRUE(accepts(g,
                      "<tool_call>\n{\"name\": \"log-event\", \"arguments\": {\"any\": [1, "
                      "{\"x\": null}]}}\n</tool_call>"));
  EXPECT_TRUE(accepts(g,
                      "<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\n  \"city\": "
                      "\"Paris\",\n  \"unit\": \"c\"\n}}\n</tool_call>"));
  // Reasoning first, which may mention the opener.
  EXPECT_TRUE(
      accepts(g, std::string("<think>\nI use <tool_call> now.\n</think>\n\n") + kHermesCall));
  // Text after the calls, malformed calls, unknown functions, schema violations.
  EXPECT_FALSE(accepts(g, std::string(kHermesCall) + "\nDone."));
  EXPECT_FALSE(accepts(g, "<tool_call>\n{\"name\": \"get_weather\"}\n</tool_call>"));
  EXPECT_FALSE(accepts(g, "<tool_call>\n{\"name\": \"rm_rf\", \"arguments\": {}}\n</tool_call>"));
  EXPECT_FALSE(accepts(g,
                       "<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"town\": "
                       "\"Paris\"}}\n</tool_call>"));
  EXPECT_FALSE(accepts(g,
                       "<tool_call>\n{\"name\": \"get_time\", \"arguments\": {\"zone\": "
                       "\"2\"}}\n</tool_call>"));
  EXPECT_FALSE(accepts(g,
                       "<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": "
                       "\"Paris\", \"unit\": \"k\"}}\n</tool_call>"));
}

TEST(ToolCallGrammar, HermesLongTextStaysCheap) {
  const std::string g = grammar_for(ToolFormat::kHermes, kAuto);
  auto grammar = Grammar::parse(g);
  ASSERT_TRUE(grammar.ok());
  GrammarMatcher matcher(*grammar);
  ASSERT_TRUE(matcher.accept("ab<to "));
  const size_t stacks = matcher.n_stacks();
  EXPECT_LE(stacks, 4u);
  for (int i = 0; i < 5000; ++i) ASSERT_TRUE(matcher.accept("ab<to ")) << i;
  EXPECT_EQ(matcher.n_stacks(), stacks);
  EXPECT_TRUE(matcher.accept(kHermesCall));
  EXPECT_TRUE(matcher.can_end());
}

TEST(ToolCallGrammar, HermesRequiredAndParallel) {
  const std::string g = grammar_for(ToolFormat::kHermes, kRequired);
  EXPECT_TRUE(accepts(g, kHermesCall));
  EXPECT_TRUE(accepts(g, std::string(kHermesCall) + "\n" + kHermesCall2));
  EXPECT_TRUE(accepts(g, std::string("<think>\nok\n</think>\n\n") + kHermesCall));
  EXPECT_FALSE(accepts(g, "Sure."));
  EXPECT_FALSE(accepts(g, std::string("Sure.\n") + kHermesCall));
  EXPECT_FALSE(accepts(g, ""));

  const std::string single = grammar_for(ToolFormat::kHermes, kRequired, false);
  EXPECT_TRUE(accepts(single, kHermesCall));
  EXPECT_FALSE(accepts(single, std::string(kHermesCall) + "\n" + kHermesCall2));
  const std::string single_auto = grammar_for(ToolFormat::kHermes, kAuto, false);
  EXPECT_FALSE(accepts(single_auto, std::string(kHermesCall) + "\n" + kHermesCall2));
}

TEST(ToolCallGrammar, HermesNamedFunction) {
  const std::string g =
      grammar_for(ToolFormat::kHermes, choice(ToolChoice::Mode::kFunction, "get_time"));
  EXPECT_TRUE(accepts(g, kHermesCall2));
  EXPECT_FALSE(accepts(g, kHermesCall));
  EXPECT_FALSE(accepts(g, std::string(kHermesCall2) + "\n" + kHermesCall2));
  EXPECT_FALSE(accepts(g, "Hello"));
}

TEST(ToolCallGrammar, Mistral) {
  const std::string one =
      "[TOOL_CALLS][{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Oslo\"}}]";
  const std::string two =
      "[TOOL_CALLS][{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Oslo\"}}, "
      "{\"name\": \"get_time\", \"arguments\": {\"zone\": -1}}]";
  const std::string g = grammar_for(ToolFormat::kMistral, kAuto);
  EXPECT_TRUE(accepts(g, "Plain [text] with [TOOL_CALL brackets."));
  EXPECT_TRUE(accepts(g, one));
  EXPECT_TRUE(accepts(g, two));
  EXPECT_TRUE(accepts(g, "Checking. " + one));
  EXPECT_FALSE(accepts(g, "[TOOL_CALLS][{\"name\": \"nope\", \"arguments\": {}}]"));
  EXPECT_FALSE(accepts(g, "[TOOL_CALLS][{\"name\": \"get_time\", \"arguments\": {}}]"));
  EXPECT_FALSE(accepts(g, one + " and more"));

  const std::string required = grammar_for(ToolFormat::kMistral, kRequired, false);
  EXPECT_TRUE(accepts(required, one));
  EXPECT_FALSE(accepts(required, two));
  EXPECT_FALSE(accepts(required, "No."));
  const std::string named =
      grammar_for(ToolFormat::kMistral, choice(ToolChoice::Mode::kFunction, "get_weather"));
  EXPECT_TRUE(accepts(named, one));
  EXPECT_FALSE(accepts(named, two));
}

TEST(ToolCallGrammar, Llama3Json) {
  const std::string call = "{\"name\": \"get_weather\", \"parameters\": {\"city\": \"Rome\"}}";
  const std::string g = grammar_for(ToolFormat::kLlama3Json, kAuto);
  EXPECT_TRUE(accepts(g, "It is sunny {probably}."));
  EXPECT_TRUE(accepts(g, call));
  EXPECT_TRUE(accepts(g, "<thinking is not a think tag"));
  EXPECT_FALSE(accepts(g, "{\"name\": \"get_weather\", \"parameters\": {\"city\": 3}}"));
  EXPECT_FALSE(accepts(g, "{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Rome\"}}"));
  EXPECT_FALSE(accepts(g, "  {\"looks\": \"like JSON\"}"));  // text may not start with '{'
  EXPECT_FALSE(accepts(g, call + "; " + call));              // never several calls
  EXPECT_TRUE(accepts(g, "<think>hmm</think>\n" + call));
  EXPECT_FALSE(accepts(g, "<think>hmm</think>\n{\"name\": \"nope\", \"parameters\": {}}"));

  const std::string required = grammar_for(ToolFormat::kLlama3Json, kRequired);
  EXPECT_TRUE(accepts(required, call));
  EXPECT_FALSE(accepts(required, "Rome is sunny."));
}

// Whether the grammar matches `before`, then the control token `token`, then `after`.
bool accepts_around_token(const std::string& gbnf, std::string_view before, std::string_view token,
                          std::string_view after) {
  auto grammar = Grammar::parse(gbnf);
  EXPECT_TRUE(grammar.ok()) << (grammar.ok() ? "" : grammar.error().message) << "\n" << gbnf;
  if (!grammar.ok()) return false;
  const int32_t k = grammar->token_index(token);
  if (k < 0) return false;
  GrammarMatcher matcher(*grammar);
  return matcher.accept(before) && matcher.accept_token(static_cast<uint32_t>(k)) &&
         matcher.accept(after) && matcher.can_end();
}

TEST(ToolCallGrammar, ControlTokenOpeners) {
  EXPECT_EQ(tool_format_control_tokens(ToolFormat::kMistral),
            std::vector<std::string>{"[TOOL_CALLS]"});
  EXPECT_EQ(tool_format_control_tokens(ToolFormat::kLlama3Json),
            std::vector<std::string>{"<|python_tag|>"});
  EXPECT_TRUE(tool_format_control_tokens(ToolFormat::kHermes).empty());
  EXPECT_TRUE(tool_format_control_tokens(ToolFormat::kGeneric).empty());
  const ToolAnswerContext native{.control_opener = true};

  // Mistral: the calls open with the [TOOL_CALLS] token, never with its text.
  const std::string calls = "[{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Oslo\"}}]";
  for (const ToolChoice& c : {kAuto, kRequired}) {
    auto g = tool_call_grammar(ToolFormat::kMistral, weather_tools(), c, true, native);
    ASSERT_TRUE(g.ok()) << g.error().message;
    EXPECT_TRUE(accepts_around_token(*g, "", "[TOOL_CALLS]", calls));
    EXPECT_FALSE(accepts(*g, "[TOOL_CALLS]" + calls));
    EXPECT_EQ(accepts_around_token(*g, "Checking. ", "[TOOL_CALLS]", calls),
              c.mode == ToolChoice::Mode::kAuto);
    EXPECT_EQ(accepts(*g, "Just text."), c.mode == ToolChoice::Mode::kAuto);
  }

  // Llama 3: a call may open with <|python_tag|>, or not; text may not.
  const std::string call = "{\"name\": \"get_weather\", \"parameters\": {\"city\": \"Rome\"}}";
  auto llama = tool_call_grammar(ToolFormat::kLlama3Json, weather_tools(), kAuto, true, native);
  ASSERT_TRUE(llama.ok()) << llama.error().message;
  EXPECT_TRUE(accepts_around_token(*llama, "", "<|python_tag|>", call));
  EXPECT_TRUE(accepts(*llama, call));
  EXPECT_TRUE(accepts(*llama, "It is sunny."));
  EXPECT_FALSE(accepts_around_token(*llama, "", "<|python_tag|>", "It is sunny."));
  EXPECT_FALSE(accepts_around_token(*llama, "Well ", "<|python_tag|>", call));
}

TEST(ToolCallGrammar, APromptThatOpensReasoningIsClosedFirst) {
  const ToolAnswerContext inside{.reasoning = true, .opens_reasoning = true};
  const std::string call =
      "<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Oslo\"}}\n"
      "</tool_call>";
  auto g = tool_call_grammar(ToolFormat::kHermes, weather_tools(), kAuto, true, inside);
  ASSERT_TRUE(g.ok()) << g.error().message;
  EXPECT_TRUE(accepts(*g, "The user wants Oslo.\n</think>\n\n" + call));
  EXPECT_TRUE(accepts(*g, "</think>\n\nIt is cold."));
  EXPECT_FALSE(accepts(*g, call));  // the block must be closed first
  EXPECT_FALSE(accepts(*g, "<think>x</think>" + call + "</think>"));  // no second block
  auto required = tool_call_grammar(ToolFormat::kHermes, weather_tools(), kRequired, true, inside);
  ASSERT_TRUE(required.ok()) << required.error().message;
  EXPECT_TRUE(accepts(*required, "Oslo.</think>\n" + call));
  EXPECT_FALSE(accepts(*required, "Oslo.</think>\nIt is cold."));
  // Without it, the block stays optional and opens with its tag.
  const std::string plain = grammar_for(ToolFormat::kHermes, kRequired);
  EXPECT_TRUE(accepts(plain, call));
  EXPECT_TRUE(accepts(plain, "<think>Oslo.</think>\n" + call));
  EXPECT_FALSE(accepts(plain, "Oslo.</think>\n" + call));
  // A model that does not think gets no block.
  auto no_thinking = tool_call_grammar(ToolFormat::kHermes, weather_tools(), kRequired, true, {});
  ASSERT_TRUE(no_thinking.ok()) << no_thinking.error().message;
  EXPECT_TRUE(accepts(*no_thinking, call));
  EXPECT_FALSE(accepts(*no_thinking, "<think>Oslo.</think>\n" + call));
}

TEST(ToolCallGrammar, Generic) {
  const std::string one =
      "{\"tool_calls\": [{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Lima\"}}]}";
  const std::string two =
      "{\"tool_calls\": [{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Lima\"}}, "
      "{\"name\": \"log-event\", \"arguments\": {}}]}";
  const std::string g = grammar_for(ToolFormat::kGeneric, kAuto);
  EXPECT_TRUE(accepts(g, "Hello! How can I help?"));
  EXPECT_TRUE(accepts(g, one));
  EXPECT_TRUE(accepts(g, two));
  EXPECT_FALSE(accepts(g, "{\"tool_calls\": []}"));
  EXPECT_FALSE(accepts(g, "{\"answer\": 1}"));
  EXPECT_FALSE(
      accepts(g, "{\"tool_calls\": [{\"name\": \"get_weather\", \"arguments\": {\"c\": 1}}]}"));

  const std::string required = grammar_for(ToolFormat::kGeneric, kRequired, false);
  EXPECT_TRUE(accepts(required, one));
  EXPECT_FALSE(accepts(required, two));
  EXPECT_FALSE(accepts(required, "Hello!"));
  const std::string named =
      grammar_for(ToolFormat::kGeneric, choice(ToolChoice::Mode::kFunction, "log-event"));
  EXPECT_TRUE(accepts(named,
                      "{\"tool_calls\": [{\"name\": \"log-event\", \"arguments\": "
                      "{\"free\": [true]}}]}"));
  EXPECT_FALSE(accepts(named, one));
}

// Whatever the grammar accepts as a call, the parser reads as that call.
TEST(ToolCallGrammar, AcceptedCallsParse) {
  struct Case {
    ToolFormat format;
    std::string text;
  };
  const std::vector<Case> cases = {
      {ToolFormat::kHermes, std::string(kHermesCall) + "\n" +
                                "<tool_call>\n{\"name\": \"get_time\", \"arguments\": {\n "
                                "\"zone\": 2\n}}\n</tool_call>"},
      {ToolFormat::kMistral,
       "[TOOL_CALLS][{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\"}}, "
       "{\"name\": \"get_time\", \"arguments\": {\"zone\": 2}}]"},
      {ToolFormat::kGeneric,
       "{\"tool_calls\": [{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\"}}, "
       "{\"name\": \"get_time\", \"arguments\": { \"zone\": 2 }}]}"},
  };
  for (const auto& c : cases) {
    ASSERT_TRUE(accepts(grammar_for(c.format, kRequired), c.text)) << c.text;
    const ParsedAnswer answer = parse_tool_answer(c.format, c.text);
    EXPECT_EQ(answer.content, "");
    ASSERT_EQ(answer.tool_calls.size(), 2u) << c.text;
    EXPECT_EQ(answer.tool_calls[0].name, "get_weather");
    EXPECT_EQ(answer.tool_calls[0].arguments, "{\"city\":\"Paris\"}");
    EXPECT_EQ(answer.tool_calls[1].name, "get_time");
    EXPECT_EQ(answer.tool_calls[1].arguments, "{\"zone\":2}");
  }
}

// ---- The generic prompt ----

TEST(GenericToolsPrompt, DescribesToolsAndFormat) {
  const std::string prompt = generic_tools_system_prompt(weather_tools(), kAuto);
  EXPECT_NE(prompt.find("{\"name\":\"get_weather\",\"description\":\"The weather in a city.\","
                        "\"parameters\":{\"type\":\"object\""),
            std::string::npos)
      << prompt;
  EXPECT_NE(prompt.find("{\"name\":\"log-event\",\"parameters\":{\"type\":\"object\"}}"),
            std::string::npos);
  EXPECT_NE(prompt.find("{\"tool_calls\": [{\"name\": \"<function name>\", \"arguments\": "),
            std::string::npos);
  EXPECT_NE(prompt.find("plain text"), std::string::npos);
  const std::string named =
      generic_tools_system_prompt(weather_tools(), choice(ToolChoice::Mode::kFunction, "get_time"));
  EXPECT_NE(named.find("You must call the function \"get_time\""), std::string::npos);
  EXPECT_EQ(generic_tools_system_prompt(weather_tools(), choice(ToolChoice::Mode::kNone)), "");
}

TEST(GenericToolsPrompt, HistoryCallsMatchTheGrammar) {
  const std::string text = generic_tool_calls_text(
      {{.id = "call_1", .name = "get_weather", .arguments = "{\"city\":\"Paris\"}"},
       {.id = "call_2", .name = "get_time", .arguments = "{\"zone\": 1}"}});
  EXPECT_EQ(text,
            "{\"tool_calls\": [{\"name\": \"get_weather\", \"arguments\": {\"city\":\"Paris\"}}, "
            "{\"name\": \"get_time\", \"arguments\": {\"zone\": 1}}]}");
  EXPECT_TRUE(accepts(grammar_for(ToolFormat::kGeneric, kAuto), text));
  EXPECT_EQ(generic_tool_calls_text({{.id = "", .name = "f", .arguments = "not json"}}),
            "{\"tool_calls\": [{\"name\": \"f\", \"arguments\": \"not json\"}]}");
}

// ---- Parsing ----

struct Call {
  std::string name;
  std::string arguments;
};

void expect_parse(ToolFormat format, std::string_view text, const std::string& content,
                  const std::vector<Call>& calls) {
  const ParsedAnswer answer = parse_tool_answer(format, text);
  EXPECT_EQ(answer.content, content) << text;
  ASSERT_EQ(answer.tool_calls.size(), calls.size()) << text;
  for (size_t i = 0; i < calls.size(); ++i) {
    EXPECT_EQ(answer.tool_calls[i].id, "");
    EXPECT_EQ(answer.tool_calls[i].name, calls[i].name) << text;
    EXPECT_EQ(answer.tool_calls[i].arguments, calls[i].arguments) << text;
  }
}

TEST(ParseToolAnswer, Hermes) {
  const auto f = ToolFormat::kHermes;
  expect_parse(f, "Just text.\n", "Just text.\n", {});
  expect_parse(f, kHermesCall, "", {{"get_weather", "{\"city\":\"Paris\"}"}});
  expect_parse(f, std::string("I'll check both.\n\n") + kHermesCall + "\n" + kHermesCall2 + "\n",
               "I'll check both.",
               {{"get_weather", "{\"city\":\"Paris\"}"}, {"get_time", "{\"zone\":2}"}});
  // Pretty arguments are compacted; strings keep their spaces and escapes.
  expect_parse(f,
               "<tool_call>\n{\"name\": \"f\", \"arguments\": {\n  \"q\": \"a b\\\" }\",\n  "
               "\"n\": [1, 2.50, -3e2],\n  \"o\": {}\n}}\n</tool_call>",
               "", {{"f", "{\"q\":\"a b\\\" }\",\"n\":[1,2.50,-3e2],\"o\":{}}"}});
  // Text after a call stays content; a later call is still a call.
  expect_parse(f, std::string(kHermesCall) + "\nDone. " + kHermesCall2, "\nDone.",
               {{"get_weather", "{\"city\":\"Paris\"}"}, {"get_time", "{\"zone\":2}"}});
}

TEST(ParseToolAnswer, HermesMalformedStaysContent) {
  const auto f = ToolFormat::kHermes;
  for (const std::string text : {
           "<tool_call>\nnot json\n</tool_call>",
           "<tool_call>\n{\"arguments\": {}, \"name\": \"f\"}\n</tool_call>",
           "a <tool_call> b",
           "<tool_call",
           "<tool_call>\n{\"name\": \"f\"",
           "<tool_call>\n{\"name\": \"a\\\"b\", \"arguments\": {}}\n</tool_call>",
           "x < y and <tool>",
       }) {
    expect_parse(f, text, text, {});
  }
  // After the arguments the closing syntax is wrong: the call stands, the rest is content.
  expect_parse(f, "<tool_call>\n{\"name\": \"f\", \"arguments\": {\"a\": 1}} trailing",
               "} trailing", {{"f", "{\"a\":1}"}});
  expect_parse(f, "<tool_call>\n{\"name\": \"f\", \"arguments\": {\"a\": 1]}", "]}",
               {{"f", "{\"a\":1"}});
}

TEST(ParseToolAnswer, Truncated) {
  const auto f = ToolFormat::kHermes;
  // Cut inside the arguments (max_tokens): the call with what was generated.
  expect_parse(f, "<tool_call>\n{\"name\": \"f\", \"arguments\": {\"city\": \"Par", "",
               {{"f", "{\"city\":\"Par"}});
  // Cut inside the closing syntax: dropped.
  expect_parse(f, "<tool_call>\n{\"name\": \"f\", \"arguments\": {}}\n</tool_", "", {{"f", "{}"}});
  // Cut right after the header.
  expect_parse(f, "<tool_call>\n{\"name\": \"f\", \"arguments\": ", "", {{"f", ""}});
}

TEST(ParseToolAnswer, ThinkBlocksHoldNoCalls) {
  const std::string think = std::string("<think>\nMaybe ") + kHermesCall + "?\n</think>\n\n";
  expect_parse(ToolFormat::kHermes, think + kHermesCall2,
               std::string("<think>\nMaybe ") + kHermesCall + "?\n</think>",
               {{"get_time", "{\"zone\":2}"}});
  expect_parse(ToolFormat::kHermes, "<think>never closed " + std::string(kHermesCall),
               "<think>never closed " + std::string(kHermesCall), {});
  expect_parse(ToolFormat::kGeneric,
               "<think>x</think>\n{\"tool_calls\": [{\"name\": \"f\", \"arguments\": {}}]}",
               "<think>x</think>", {{"f", "{}"}});
}

TEST(ParseToolAnswer, Mistral) {
  const auto f = ToolFormat::kMistral;
  expect_parse(f, "[TOOL_CALLS][{\"name\": \"a\", \"arguments\": {\"x\": [1, {\"y\": \"]\"}]}}]",
               "", {{"a", "{\"x\":[1,{\"y\":\"]\"}]}"}});
  expect_parse(f,
               "Sure. [TOOL_CALLS] [ {\"name\":\"a\",\"arguments\":{}} , {\"name\": \"b\", "
               "\"arguments\": {\"k\": true}} ]",
               "Sure.", {{"a", "{}"}, {"b", "{\"k\":true}"}});
  expect_parse(f, "[link](x) and [TOOL_CALLS] alone", "[link](x) and [TOOL_CALLS] alone", {});
}

TEST(ParseToolAnswer, Llama3Json) {
  const auto f = ToolFormat::kLlama3Json;
  expect_parse(f, "{\"name\": \"get_weather\", \"parameters\": {\"city\": \"Rome\"}}", "",
               {{"get_weather", "{\"city\":\"Rome\"}"}});
  expect_parse(f, "<|python_tag|>{\"name\": \"a\", \"arguments\": {}}", "", {{"a", "{}"}});
  expect_parse(f,
               "\n{\"name\": \"a\", \"parameters\": {}}; {\"name\": \"b\", \"parameters\": {}}\n",
               "", {{"a", "{}"}, {"b", "{}"}});
  // Calls only at the start.
  expect_parse(f, "Call {\"name\": \"a\", \"parameters\": {}}",
               "Call {\"name\": \"a\", \"parameters\": {}}", {});
  expect_parse(f, "{\"name\": 3}", "{\"name\": 3}", {});
}

TEST(ParseToolAnswer, Generic) {
  const auto f = ToolFormat::kGeneric;
  expect_parse(f, "{\"tool_calls\": [{\"name\": \"a\", \"arguments\": {\"s\": \"x\"}}]}", "",
               {{"a", "{\"s\":\"x\"}"}});
  expect_parse(f, "{\"result\": 42}", "{\"result\": 42}", {});
  expect_parse(f, "Hi {\"tool_calls\": []}", "Hi {\"tool_calls\": []}", {});
  expect_parse(f, "  ", "  ", {});
}

// ---- Streaming ----

bool valid_utf8(std::string_view s) {
  for (size_t i = 0; i < s.size();) {
    const auto c = static_cast<unsigned char>(s[i]);
    const size_t n = c < 0x80           ? 1
                     : (c >> 5) == 0x6  ? 2
                     : (c >> 4) == 0xE  ? 3
                     : (c >> 3) == 0x1E ? 4
                                        : 0;
    if (n == 0 || i + n > s.size()) return false;
    for (size_t k = 1; k < n; ++k) {
      if ((static_cast<unsigned char>(s[i + k]) & 0xC0) != 0x80) return false;
    }
    i += n;
  }
  return true;
}

// Feeds `pieces` and checks the events against the whole-text parse.
void expect_stream(ToolFormat format, const std::vector<std::string>& pieces,
                   const ParsedAnswer& whole, const std::string& label) {
  ToolCallStream stream(format);
  ParsedAnswer got;
  auto take = [&](const std::vector<ToolCallEvent>& events) {
    for (const auto& e : events) {
      switch (e.kind) {
        case Kind::kContent:
          EXPECT_TRUE(valid_utf8(e.text)) << label;
          EXPECT_FALSE(e.text.empty()) << label;
          got.content += e.text;
          break;
        case Kind::kCallStart:
          ASSERT_EQ(e.index, static_cast<int>(got.tool_calls.size())) << label;
          got.tool_calls.push_back({.id = {}, .name = e.text, .arguments = {}});
          break;
        case Kind::kArguments:
          // Only the latest call receives arguments, after its start.
          ASSERT_EQ(e.index + 1, static_cast<int>(got.tool_calls.size())) << label;
          EXPECT_TRUE(valid_utf8(e.text)) << label;
          got.tool_calls[e.index].arguments += e.text;
          break;
      }
    }
  };
  for (const auto& piece : pieces) take(stream.push(piece));
  take(stream.finish());
  EXPECT_TRUE(stream.finish().empty());
  EXPECT_EQ(got.content, whole.content) << label;
  ASSERT_EQ(got.tool_calls.size(), whole.tool_calls.size()) << label;
  for (size_t i = 0; i < got.tool_calls.size(); ++i) {
    EXPECT_EQ(got.tool_calls[i].name, whole.tool_calls[i].name) << label;
    EXPECT_EQ(got.tool_calls[i].arguments, whole.tool_calls[i].arguments) << label;
  }
}

void expect_stream_matches(ToolFormat format, const std::string& text) {
  const ParsedAnswer whole = parse_tool_answer(format, text);
  std::vector<std::string> bytes;
  for (const char c : text) bytes.emplace_back(1, c);
  expect_stream(format, bytes, whole, "byte by byte: " + text);
  for (size_t cut = 0; cut <= text.size(); ++cut) {
    expect_stream(format, {text.substr(0, cut), text.substr(cut)}, whole,
                  "cut at " + std::to_string(cut) + ": " + text);
  }
  std::mt19937 rng(42);
  for (int round = 0; round < 20; ++round) {
    std::vector<std::string> pieces;
    for (size_t p = 0; p < text.size();) {
      const size_t n = std::uniform_int_distribution<size_t>(0, 7)(rng);
      pieces.push_back(text.substr(p, n));
      p += n;
    }
    expect_stream(format, pieces, whole, "random pieces: " + text);
  }
}

TEST(ToolCallStream, EverySplitMatchesTheWholeParse) {
  const std::vector<std::pair<ToolFormat, std::string>> answers = {
      {ToolFormat::kHermes, "Héllo wörld 日本 🎉 plain text\n"},
      {ToolFormat::kHermes,
       std::string("Checking 🌦️…\n\n") + kHermesCall + "\n" + kHermesCall2},
      {ToolFormat::kHermes,
       "<think>\nUse <tool_call> maybe\n</think>\n\n<tool_call>\n{\"name\": \"f\", "
       "\"arguments\": {\n  \"city\": \"Zürich \\\"x\\\"\",\n  \"n\": [1, -2.5e3, true, null]\n}}\n"
       "</tool_call>\n"},
      {ToolFormat::kHermes, "<tool_call>\n{\"name\": \"f\", \"arguments\": {\"a\": 1]} <tool_ca"},
      {ToolFormat::kHermes, "a <tool_call>\nno\n</tool_call> <think>late</think> <tool_call>"},
      {ToolFormat::kHermes, "<tool_call>\n{\"name\": \"f\", \"arguments\": {\"s\": \"日本"},
      {ToolFormat::kMistral,
       "[TOOL_CALLS][{\"name\": \"a\", \"arguments\": {\"x\": \"[TOOL_CALLS]\"}}, {\"name\": "
       "\"b\", \"arguments\": {}}]"},
      {ToolFormat::kMistral, "Text [TOOL_CALL and [TOOL_CALLS][{\"name\": \"a\", \"argu"},
      {ToolFormat::kLlama3Json,
       " <|python_tag|>{\"name\": \"a\", \"parameters\": {\"q\": \"€\"}} ; {\"name\": \"b\", "
       "\"arguments\": {}}"},
      {ToolFormat::kLlama3Json, "<thinking> {\"name\": \"a\", \"parameters\": {}}"},
      {ToolFormat::kLlama3Json, "{\"name\": \"a\", \"parameters\": {}} then text"},
      {ToolFormat::kGeneric,
       "<think>ok</think>\n\n{\"tool_calls\": [{\"name\": \"a\", \"arguments\": {\"k\": "
       "\"v\"}}, {\"name\": \"b\", \"arguments\": {}}]}\n"},
      {ToolFormat::kGeneric, "{\"tool_calls\": [{\"name\": \"a\", \"arguments\": {}}]} extra"},
      {ToolFormat::kGeneric, "{ \"not\": \"a call\" } ✓"},
  };
  for (const auto& [format, text] : answers) expect_stream_matches(format, text);
}

// Random texts made of the formats' pieces: the stream still matches the whole parse.
TEST(ToolCallStream, RandomTextsMatchTheWholeParse) {
  const std::vector<std::string> fragments = {"<tool_call>",
                                              "</tool_call>",
                                              "[TOOL_CALLS]",
                                              "<think>",
                                              "</think>",
                                              "<|python_tag|>",
                                              "{\"name\": \"f\", \"arguments\": ",
                                              "{\"tool_calls\": [",
                                              "{",
                                              "}",
                                              "[",
                                              "]",
                                              "\"name\"",
                                              "\"parameters\"",
                                              "\"s \\\" }\"",
                                              ":",
                                              ",",
                                              ";",
                                              " ",
                                              "\n",
                                              "1.5",
                                              "true",
                                              "é",
                                              "日本",
                                              "<",
                                              "x"};
  std::mt19937 rng(7);
  for (const ToolFormat format :
       {ToolFormat::kHermes, ToolFormat::kMistral, ToolFormat::kLlama3Json, ToolFormat::kGeneric}) {
    for (int round = 0; round < 300; ++round) {
      std::string text;
      const int n = std::uniform_int_distribution<int>(0, 24)(rng);
      for (int i = 0; i < n; ++i)
        text += fragments[std::uniform_int_distribution<size_t>(0, fragments.size() - 1)(rng)];
      const ParsedAnswer whole = parse_tool_answer(format, text);
      std::vector<std::string> bytes;
      for (const char c : text) bytes.emplace_back(1, c);
      expect_stream(format, bytes, whole, std::string(tool_format_name(format)) + ": " + text);
      if (HasFailure()) return;
    }
  }
}

TEST(ToolCallStream, LongAnswers) {
  // Long enough that the stream forgets the text it has decided on.
  std::string text = "<think>" + std::string(9000, 'r') + "</think>\n";
  for (int i = 0; i < 3000; ++i) text += "word <b> ";
  text += std::string("\n") + kHermesCall +
          "\n<tool_call>\n{\"name\": \"f\", \"arguments\": {\"s\": \"" + std::string(10000, 's') +
          "\"}}\n</tool_call>";
  const ParsedAnswer whole = parse_tool_answer(ToolFormat::kHermes, text);
  ASSERT_EQ(whole.tool_calls.size(), 2u);
  EXPECT_EQ(whole.content, text.substr(0, text.find(" \n<tool_call>")));
  EXPECT_EQ(whole.tool_calls[1].arguments, "{\"s\":\"" + std::string(10000, 's') + "\"}");
  std::vector<std::string> pieces;
  for (size_t p = 0; p < text.size(); p += 3) pieces.push_back(text.substr(p, 3));
  expect_stream(ToolFormat::kHermes, pieces, whole, "long answer");
}

TEST(ToolCallStream, NamesComeFirstAndContentIsNotHeldBackNeedlessly) {
  ToolCallStream stream(ToolFormat::kHermes);
  auto events = stream.push("Hello there");
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0], (ToolCallEvent{.kind = Kind::kContent, .index = -1, .text = "Hello there"}));
  events = stream.push(" <tool");  // may be an opener: held back with the space
  EXPECT_TRUE(events.empty());
  events = stream.push("_call>\n{\"name\": \"get_weather\", \"arguments\": {\"ci");
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[0],
            (ToolCallEvent{.kind = Kind::kCallStart, .index = 0, .text = "get_weather"}));
  EXPECT_EQ(events[1], (ToolCallEvent{.kind = Kind::kArguments, .index = 0, .text = "{\"ci"}));
  events = stream.push("ty\": \"Paris\"}}\n</tool_call>");
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0],
            (ToolCallEvent{.kind = Kind::kArguments, .index = 0, .text = "ty\":\"Paris\"}"}));
  EXPECT_TRUE(stream.finish().empty());
  EXPECT_EQ(stream.n_calls(), 1);
}

}  // namespace
}  // namespace shardserve
