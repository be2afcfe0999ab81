#include "worker/embed_batcher.h"

#include <algorithm>
#include <string>

namespace shardserve {

Status EmbedBatcher::submit(EmbedInput input) {
  const auto n = static_cast<int64_t>(input.tokens.size());
  if (n < 1) return Error::invalid_input("the input has no tokens");
  if (n > limits_.max_tokens)
    return Error::invalid_input("the input has " + std::to_string(n) +
                                " tokens; the model takes at most " +
                                std::to_string(limits_.max_tokens));
  for (TokenId t : input.tokens)
    if (t < 0 || t >= limits_.n_vocab)
      return Error::invalid_input("token id " + std::to_string(t) + " is outside the vocabulary (" +
                                  std::to_string(limits_.n_vocab) + " tokens)");
  queue_.push_back(std::move(input));
  return {};
}

bool EmbedBatcher::cancel(int64_t id) {
  return std::erase_if(queue_, [id](const EmbedInput& input) { return input.id == id; }) > 0;
}

StepPlan EmbedBatcher::next_plan() {
  StepPlan plan;
  plan.step_id = next_step_++;
  int64_t tokens = 0;
  while (!queue_.empty() && static_cast<int64_t>(plan.chunks.size()) < limits_.max_batch) {
    const auto n = static_cast<int64_t>(queue_.front().tokens.size());
    if (!plan.chunks.empty() && tokens + n > limits_.max_batch_tokens) break;
    tokens += n;
    plan.chunks.push_back({.seq = queue_.front().id,
                           .start_pos = 0,
                           .tokens = std::move(queue_.front().tokens),
                           .need_logits = true});
    queue_.pop_front();
  }
  return plan;
}

std::vector<EncodedInput> EmbedBatcher::on_step_done(const StepPlan& plan,
                                                     const std::vector<float>& outputs,
                                                     int64_t dim) const {
  std::vector<EncodedInput> results;
  results.reserve(plan.chunks.size());
  for (size_t i = 0; i < plan.chunks.size(); ++i) {
    const float* row = outputs.data() + i * static_cast<size_t>(dim);
    results.push_back({.id = plan.chunks[i].seq,
                       .n_tokens = static_cast<int64_t>(plan.chunks[i].tokens.size()),
                       .embedding = std::vector<float>(row, row + dim)});
  }
  return results;
}

StepPlan EmbedBatcher::shutdown_plan() {
  StepPlan plan;
  plan.step_id = next_step_++;
  plan.shutdown = true;
  return plan;
}

}  // namespace shardserve
