#include "coordinator/serving/reasoning.h"

#include <algorithm>

namespace shardserve {

std::optional<ReasoningTags> detect_reasoning_tags(std::string_view template_source) {
  ReasoningTags tags;
  if (template_source.find(tags.open) != std::string_view::npos &&
      template_source.find(tags.close) != std::string_view::npos)
    return tags;
  return std::nullopt;
}

bool prompt_opens_reasoning(std::string_view prompt_text, const ReasoningTags& tags) {
  const size_t end = prompt_text.find_last_not_of(" \t\r\n");
  if (end == std::string_view::npos) return false;
  const std::string_view trimmed = prompt_text.substr(0, end + 1);
  return trimmed.ends_with(tags.open);
}

ReasoningSplitter::ReasoningSplitter(ReasoningTags tags, bool in_reasoning)
    : tags_(std::move(tags)), in_reasoning_(in_reasoning), after_tag_(in_reasoning) {}

void ReasoningSplitter::emit(std::string_view text, Split& out) {
  if (after_tag_) {
    const size_t first = text.find_first_not_of("\r\n");
    if (first == std::string_view::npos) return;  // still only newlines: keep dropping
    text.remove_prefix(first);
    after_tag_ = false;
  }
  (in_reasoning_ ? out.reasoning : out.content).append(text);
}

ReasoningSplitter::Split ReasoningSplitter::push(std::string_view text) {
  Split out;
  held_.append(text);
  for (;;) {
    const std::string& tag = in_reasoning_ ? tags_.close : tags_.open;
    const size_t at = held_.find(tag);
    if (at == std::string::npos) break;
    std::string before = held_.substr(0, at);
    if (in_reasoning_) {  // the reasoning ends without its trailing newlines
      while (!before.empty() && (before.back() == '\n' || before.back() == '\r')) before.pop_back();
    }
    emit(before, out);
    held_.erase(0, at + tag.size());
    in_reasoning_ = !in_reasoning_;
    after_tag_ = true;
  }
  // Keep back the longest suffix that is a prefix of the tag we wait for, and (inside
  // reasoning) trailing newlines that may precede the close tag.
  const std::string& tag = in_reasoning_ ? tags_.close : tags_.open;
  size_t keep = 0;
  for (size_t n = std::min(held_.size(), tag.size() - 1); n > 0; --n) {
    if (std::string_view(held_).substr(held_.size() - n) == std::string_view(tag).substr(0, n)) {
      keep = n;
      break;
    }
  }
  if (in_reasoning_) {
    size_t start = held_.size() - keep;
    while (start > 0 && (held_[start - 1] == '\n' || held_[start - 1] == '\r')) --start;
    keep = held_.size() - start;
  }
  emit(std::string_view(held_).substr(0, held_.size() - keep), out);
  held_.erase(0, held_.size() - keep);
  return out;
}

ReasoningSplitter::Split ReasoningSplitter::finish() {
  Split out;
  emit(held_, out);
  held_.clear();
  return out;
}

ReasoningSplitter::Split split_reasoning(std::string_view text, const ReasoningTags& tags,
                                         bool in_reasoning) {
  ReasoningSplitter splitter(tags, in_reasoning);
  ReasoningSplitter::Split all = splitter.push(text);
  ReasoningSplitter::Split rest = splitter.finish();
  all.reasoning += rest.reasoning;
  all.content += rest.content;
  return all;
}

}  // namespace shardserve
