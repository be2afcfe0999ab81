// Reasoning models (Qwen3, DeepSeek-R1 and the like) write their thinking between tags before
// the answer: "<think>\n...\n</think>\n\nThe answer". The API returns that text apart, as
// message.reasoning_content (delta.reasoning_content when streaming), and the content without
// it; tool calls are parsed from the content only.
//
// ReasoningSplitter does the split on text as it streams in: text inside the tags is
// reasoning, text outside is content, and a piece that may be the start of a tag is held back
// until the next push shows whether it is one (so a tag split across tokens is never shown).
// The newlines that separate the tags from the text around them are dropped. A template whose
// generation prompt already opened the thinking block (DeepSeek-R1 ends it with "<think>\n")
// starts the splitter inside reasoning.
//
// Not thread-safe: one splitter per choice.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace shardserve {

struct ReasoningTags {
  std::string open = "<think>";
  std::string close = "</think>";
};

// The tags of a chat template that writes thinking blocks (it mentions both tags), else none.
std::optional<ReasoningTags> detect_reasoning_tags(std::string_view template_source);

// Whether a rendered prompt leaves the model inside a thinking block (it ends with the open
// tag, whitespace aside, and no close tag follows it).
bool prompt_opens_reasoning(std::string_view prompt_text, const ReasoningTags& tags);

class ReasoningSplitter {
 public:
  explicit ReasoningSplitter(ReasoningTags tags, bool in_reasoning = false);

  struct Split {
    std::string reasoning;
    std::string content;
  };
  // The newly decided text; what might be a partial tag waits for the next push or finish().
  Split push(std::string_view text);
  // Everything still held back (a partial tag that never completed is text).
  Split finish();

  bool in_reasoning() const { return in_reasoning_; }

 private:
  void emit(std::string_view text, Split& out);

  ReasoningTags tags_;
  bool in_reasoning_;
  bool after_tag_ = false;  // drop the newlines right after a tag
  std::string held_;        // undecided text: a possible tag prefix at the end
};

// The whole answer at once: the same split as pushing it and finishing.
ReasoningSplitter::Split split_reasoning(std::string_view text, const ReasoningTags& tags,
                                         bool in_reasoning = false);

}  // namespace shardserve
