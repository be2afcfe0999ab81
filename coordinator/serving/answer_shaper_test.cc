#include "coordinator/serving/answer_shaper.h"

#include <gtest/gtest.h>

namespace shardserve {
namespace {

TEST(AnswerShaper, ThinkingThenHermesCallsSplitWholeAndStreamed) {
  const std::string answer =
      "<think>\nThe user wants weather.\n</think>\n\nLet me check.\n<tool_call>\n"
      "{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\"}}\n</tool_call>";
  AnswerShaper whole_shaper(ReasoningTags{}, false, ToolFormat::kHermes);
  const ShapedAnswer whole = shape_answer(whole_shaper, answer);
  EXPECT_EQ(whole.reasoning, "The user wants weather.");
  EXPECT_EQ(whole.content, "Let me check.");
  ASSERT_EQ(whole.tool_calls.size(), 1u);
  EXPECT_EQ(whole.tool_calls[0].name, "get_weather");
  EXPECT_EQ(whole.tool_calls[0].arguments, R"({"city":"Paris"})");
  EXPECT_EQ(whole.tool_calls[0].id.rfind("call_", 0), 0u);

  for (size_t step : {1, 3, 7}) {
    AnswerShaper shaper(ReasoningTags{}, false, ToolFormat::kHermes);
    std::string reasoning, content, name, arguments;
    auto apply = [&](const std::vector<AnswerEvent>& events) {
      for (const AnswerEvent& e : events) {
        if (e.kind == AnswerEvent::Kind::kReasoning) reasoning += e.text;
        if (e.kind == AnswerEvent::Kind::kContent) content += e.text;
        if (e.kind == AnswerEvent::Kind::kCallStart) name += e.text;
        if (e.kind == AnswerEvent::Kind::kArguments) arguments += e.text;
      }
    };
    for (size_t i = 0; i < answer.size(); i += step)
      apply(shaper.push(std::string_view(answer).substr(i, step)));
    apply(shaper.finish());
    EXPECT_EQ(reasoning, whole.reasoning) << step;
    EXPECT_EQ(content, whole.content) << step;
    EXPECT_EQ(name, "get_weather") << step;
    EXPECT_EQ(arguments, whole.tool_calls[0].arguments) << step;
  }
}

TEST(AnswerShaper, WithoutThinkingOrToolsTextPassesThrough) {
  AnswerShaper shaper(std::nullopt, false, std::nullopt);
  EXPECT_FALSE(shaper.shapes());
  const ShapedAnswer a = shape_answer(shaper, "<think>x</think> {\"tool_calls\": []}");
  EXPECT_EQ(a.content, "<think>x</think> {\"tool_calls\": []}");
  EXPECT_TRUE(a.reasoning.empty());
  EXPECT_TRUE(a.tool_calls.empty());
}

}  // namespace
}  // namespace shardserve
