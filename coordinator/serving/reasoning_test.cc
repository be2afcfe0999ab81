#include "coordinator/serving/reasoning.h"

#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

namespace shardserve {
namespace {

std::string read(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

TEST(Reasoning, TagsAreFoundInThinkingTemplatesOnly) {
  EXPECT_TRUE(detect_reasoning_tags(read("model/chat_template/testdata/qwen3.jinja")));
  for (const char* name : {"smollm2", "qwen2.5", "llama3.2", "gemma3", "mistral_nemo"})
    EXPECT_FALSE(
        detect_reasoning_tags(read(std::string("model/chat_template/testdata/") + name + ".jinja")))
        << name;
}

TEST(Reasoning, AWholeAnswerSplits) {
  const ReasoningTags tags;
  auto s = split_reasoning("<think>\nLet me see.\n2+2 is 4.\n</think>\n\nIt is 4.", tags);
  EXPECT_EQ(s.reasoning, "Let me see.\n2+2 is 4.");
  EXPECT_EQ(s.content, "It is 4.");
  s = split_reasoning("No thinking here, <thin> is not a tag.", tags);
  EXPECT_EQ(s.reasoning, "");
  EXPECT_EQ(s.content, "No thinking here, <thin> is not a tag.");
  // An empty thinking block (Qwen3 with thinking off) leaves only the answer.
  s = split_reasoning("<think>\n\n</think>\n\nHi.", tags);
  EXPECT_EQ(s.reasoning, "");
  EXPECT_EQ(s.content, "Hi.");
  // Cut off while thinking: all of it is reasoning.
  s = split_reasoning("<think>\nStill going", tags);
  EXPECT_EQ(s.reasoning, "Still going");
  EXPECT_EQ(s.content, "");
}

TEST(Reasoning, APromptThatOpensTheBlockStartsInside) {
  const ReasoningTags tags;
  EXPECT_TRUE(prompt_opens_reasoning("<|Assistant|><think>\n", tags));
  EXPECT_FALSE(prompt_opens_reasoning("<|im_start|>assistant\n<think>\n\n</think>\n\n", tags));
  EXPECT_FALSE(prompt_opens_reasoning("<|im_start|>assistant\n", tags));
  auto s = split_reasoning("Hmm, 3 apples.\n</think>\n\nThree.", tags, true);
  EXPECT_EQ(s.reasoning, "Hmm, 3 apples.");
  EXPECT_EQ(s.content, "Three.");
}

TEST(Reasoning, StreamingGivesTheSameSplitAtEveryCut) {
  const ReasoningTags tags;
  const std::string answer = "<think>\nA <b>bold</b> idea.\n\n</think>\n\nDone: x < y, <think";
  const auto whole = split_reasoning(answer, tags);
  EXPECT_EQ(whole.content, "Done: x < y, <think");
  for (size_t step = 1; step <= 5; ++step) {
    ReasoningSplitter splitter(tags);
    std::string reasoning, content;
    for (size_t i = 0; i < answer.size(); i += step) {
      auto s = splitter.push(std::string_view(answer).substr(i, step));
      reasoning += s.reasoning;
      content += s.content;
      EXPECT_EQ(content.find("</think"), std::string::npos) << "a tag leaked at step " << step;
    }
    auto rest = splitter.finish();
    EXPECT_EQ(reasoning + rest.reasoning, whole.reasoning) << "step " << step;
    EXPECT_EQ(content + rest.content, whole.content) << "step " << step;
  }
}

}  // namespace
}  // namespace shardserve
