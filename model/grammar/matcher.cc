#include "model/grammar/matcher.h"

#include "base/check.h"

namespace shardserve {

using grammar::FramePool;
using grammar::kNoFrame;
using grammar::Stepper;
using grammar::StepResult;

GrammarMatcher::GrammarMatcher(const Grammar& grammar, size_t max_stacks)
    : grammar_(&grammar), max_stacks_(max_stacks) {
  SS_CHECK(max_stacks > 0);
  reset();
}

void GrammarMatcher::reset() {
  FramePool pool;
  Stepper stepper(*grammar_, pool, max_stacks_);
  std::vector<uint32_t> tops;
  utf8_ = {};
  ambiguity_exceeded_ = stepper.start(tops) == StepResult::kTooAmbiguous;
  if (ambiguity_exceeded_) tops.clear();  // nothing will be accepted
  store(pool, tops);
}

bool GrammarMatcher::accept(std::string_view bytes) {
  if (bytes.empty()) return true;
  FramePool pool;
  std::vector<uint32_t> tops;
  grammar::Utf8State utf8;
  StepResult result = StepResult::kOk;
  if (!run(bytes, pool, tops, utf8, result)) {
    ambiguity_exceeded_ = result == StepResult::kTooAmbiguous;
    return false;
  }
  store(pool, tops);
  utf8_ = utf8;
  return true;
}

bool GrammarMatcher::can_accept(std::string_view bytes) const {
  if (bytes.empty()) return true;
  FramePool pool;
  std::vector<uint32_t> tops;
  grammar::Utf8State utf8;
  StepResult result = StepResult::kOk;
  return run(bytes, pool, tops, utf8, result);
}

bool GrammarMatcher::accept_token(uint32_t k) {
  FramePool pool;
  std::vector<uint32_t> tops;
  if (!step_token(k, pool, tops)) return false;
  store(pool, tops);
  return true;
}

bool GrammarMatcher::can_accept_token(uint32_t k) const {
  FramePool pool;
  std::vector<uint32_t> tops;
  return step_token(k, pool, tops);
}

bool GrammarMatcher::step_token(uint32_t k, FramePool& pool, std::vector<uint32_t>& tops) const {
  if (k >= grammar_->tokens().size() || utf8_.pending()) return false;
  load(pool);
  Stepper stepper(*grammar_, pool, max_stacks_);
  const StepResult result = stepper.advance(tops_, grammar::kTokenBase + k, tops);
  return result == StepResult::kOk;
}

bool GrammarMatcher::run(std::string_view bytes, FramePool& pool, std::vector<uint32_t>& tops,
                         grammar::Utf8State& utf8, StepResult& result) const {
  load(pool);
  tops = tops_;
  utf8 = utf8_;
  Stepper stepper(*grammar_, pool, max_stacks_);
  for (char c : bytes) {
    result = stepper.feed(tops, utf8, static_cast<uint8_t>(c));
    if (result != StepResult::kOk) return false;
  }
  return true;
}

bool GrammarMatcher::can_end() const {
  return !utf8_.pending() && !tops_.empty() && tops_.back() == kNoFrame;
}

bool GrammarMatcher::is_finished() const {
  return !utf8_.pending() && tops_.size() == 1 && tops_[0] == kNoFrame;
}

void GrammarMatcher::load(FramePool& pool) const {
  SS_CHECK(pool.size() == 0);
  for (size_t i = 0; i < frames_.size(); ++i) {
    const uint32_t id = pool.intern(frames_[i].pos, frames_[i].parent);
    SS_CHECK(id == i, "matcher frames are not unique and parent-first");
  }
}

void GrammarMatcher::store(const FramePool& pool, const std::vector<uint32_t>& tops) {
  // Mark what the tops reach, then renumber in id order (parents keep smaller ids).
  std::vector<uint32_t> remap(pool.size(), 0);
  for (uint32_t top : tops) {
    for (uint32_t id = top; id != kNoFrame && remap[id] == 0; id = pool[id].parent) remap[id] = 1;
  }
  frames_.clear();
  for (uint32_t id = 0; id < pool.size(); ++id) {
    if (remap[id] == 0) continue;
    const uint32_t parent = pool[id].parent;
    remap[id] = static_cast<uint32_t>(frames_.size());
    frames_.push_back({pool[id].pos, parent == kNoFrame ? kNoFrame : remap[parent]});
  }
  tops_.resize(tops.size());
  for (size_t i = 0; i < tops.size(); ++i)
    tops_[i] = tops[i] == kNoFrame ? kNoFrame : remap[tops[i]];
}

}  // namespace shardserve
