#include "coordinator/serving/answer_shaper.h"

#include <utility>

#include "api/request_id.h"

namespace shardserve {

AnswerShaper::AnswerShaper(std::optional<ReasoningTags> reasoning, bool opens_reasoning,
                           std::optional<ToolFormat> tools) {
  if (reasoning) splitter_.emplace(std::move(*reasoning), opens_reasoning);
  if (tools) calls_.emplace(*tools);
}

void AnswerShaper::take(std::vector<ToolCallEvent> events, std::vector<AnswerEvent>& out) {
  for (ToolCallEvent& e : events) {
    AnswerEvent a;
    a.text = std::move(e.text);
    switch (e.kind) {
      case ToolCallEvent::Kind::kContent:
        a.kind = AnswerEvent::Kind::kContent;
        break;
      case ToolCallEvent::Kind::kCallStart:
        a.kind = AnswerEvent::Kind::kCallStart;
        a.call = e.index;
        break;
      case ToolCallEvent::Kind::kArguments:
        a.kind = AnswerEvent::Kind::kArguments;
        a.call = e.index;
        break;
    }
    out.push_back(std::move(a));
  }
}

void AnswerShaper::content(std::string_view text, std::vector<AnswerEvent>& out) {
  if (text.empty()) return;
  if (calls_) {
    take(calls_->push(text), out);
  } else {
    out.push_back({AnswerEvent::Kind::kContent, -1, std::string(text)});
  }
}

std::vector<AnswerEvent> AnswerShaper::push(std::string_view text) {
  std::vector<AnswerEvent> out;
  if (!splitter_) {
    content(text, out);
    return out;
  }
  ReasoningSplitter::Split s = splitter_->push(text);
  if (!s.reasoning.empty())
    out.push_back({AnswerEvent::Kind::kReasoning, -1, std::move(s.reasoning)});
  content(s.content, out);
  return out;
}

std::vector<AnswerEvent> AnswerShaper::finish() {
  std::vector<AnswerEvent> out;
  if (splitter_) {
    ReasoningSplitter::Split s = splitter_->finish();
    if (!s.reasoning.empty())
      out.push_back({AnswerEvent::Kind::kReasoning, -1, std::move(s.reasoning)});
    content(s.content, out);
  }
  if (calls_) take(calls_->finish(), out);
  return out;
}

ShapedAnswer shape_answer(AnswerShaper& shaper, std::string_view text) {
  ShapedAnswer answer;
  auto apply = [&](std::vector<AnswerEvent> events) {
    for (AnswerEvent& e : events) {
      switch (e.kind) {
        case AnswerEvent::Kind::kReasoning:
          answer.reasoning += e.text;
          break;
        case AnswerEvent::Kind::kContent:
          answer.content += e.text;
          break;
        case AnswerEvent::Kind::kCallStart:
          answer.tool_calls.push_back({api::new_tool_call_id(), std::move(e.text), ""});
          break;
        case AnswerEvent::Kind::kArguments:
          answer.tool_calls.at(static_cast<size_t>(e.call)).arguments += e.text;
          break;
      }
    }
  };
  apply(shaper.push(text));
  apply(shaper.finish());
  return answer;
}

}  // namespace shardserve
