// What a chat choice's generated text becomes in the API: a reasoning model's thinking apart
// (reasoning_content), then tool calls parsed out of the rest (tool_calls), the remaining text
// as content. The same shaper serves a stream (events as text arrives) and a whole answer
// (the events of all of it), so both give the same result.
//
// Text goes through the ReasoningSplitter (coordinator/serving/reasoning.h) when the model's
// template thinks, then through a ToolCallStream (coordinator/serving/tool_calls.h) when the
// request asked for tools; without either, text passes through as content.
//
// Not thread-safe: one shaper per choice.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "api/openai_request.h"
#include "coordinator/serving/reasoning.h"
#include "coordinator/serving/tool_calls.h"

namespace shardserve {

struct AnswerEvent {
  enum class Kind { kReasoning, kContent, kCallStart, kArguments };
  Kind kind = Kind::kContent;
  int call = -1;     // kCallStart, kArguments: the call's index
  std::string text;  // the text; for kCallStart the function's name
};

class AnswerShaper {
 public:
  // `reasoning`: the template's thinking tags (none: no split), `opens_reasoning`: the prompt
  // already opened the block; `tools`: the format to parse calls in (none: no tool calls).
  AnswerShaper(std::optional<ReasoningTags> reasoning, bool opens_reasoning,
               std::optional<ToolFormat> tools);

  std::vector<AnswerEvent> push(std::string_view text);
  std::vector<AnswerEvent> finish();

  bool shapes() const { return splitter_ || calls_; }

 private:
  void content(std::string_view text, std::vector<AnswerEvent>& out);
  void take(std::vector<ToolCallEvent> events, std::vector<AnswerEvent>& out);

  std::optional<ReasoningSplitter> splitter_;
  std::optional<ToolCallStream> calls_;
};

// A whole answer: content, reasoning and calls (ids from api::new_tool_call_id()).
struct ShapedAnswer {
  std::string content;
  std::string reasoning;
  std::vector<api::ToolCall> tool_calls;
};
ShapedAnswer shape_answer(AnswerShaper& shaper, std::string_view text);

}  // namespace shardserve
