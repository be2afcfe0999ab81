#include "model/grammar/stacks.h"

#include <algorithm>

#include "base/check.h"

namespace shardserve::grammar {

FramePool::FramePool() {
  rehash(64);
}

uint32_t FramePool::intern(uint32_t pos, uint32_t parent) {
  const uint64_t key = (uint64_t{pos} << 32) | parent;
  const size_t mask = slots_.size() - 1;
  size_t i = static_cast<size_t>((key * 0x9E3779B97F4A7C15ull) >> shift_);
  while (true) {
    const uint32_t id = slots_[i];
    if (id == kNoFrame) break;
    if (frames_[id].pos == pos && frames_[id].parent == parent) return id;
    i = (i + 1) & mask;
  }
  SS_CHECK(frames_.size() < kNoFrame - 1, "grammar frame pool overflow");
  const auto id = static_cast<uint32_t>(frames_.size());
  frames_.push_back({pos, parent});
  slots_[i] = id;
  if (frames_.size() * 2 > slots_.size()) rehash(slots_.size() * 2);
  return id;
}

void FramePool::rehash(size_t n_slots) {
  slots_.assign(n_slots, kNoFrame);
  shift_ = 64 - static_cast<uint32_t>(__builtin_ctzll(n_slots));
  const size_t mask = n_slots - 1;
  for (uint32_t id = 0; id < frames_.size(); ++id) {
    const uint64_t key = (uint64_t{frames_[id].pos} << 32) | frames_[id].parent;
    size_t i = static_cast<size_t>((key * 0x9E3779B97F4A7C15ull) >> shift_);
    while (slots_[i] != kNoFrame) i = (i + 1) & mask;
    slots_[i] = id;
  }
}

Stepper::Stepper(const Grammar& grammar, FramePool& pool, size_t max_stacks)
    : grammar_(grammar), pool_(pool), max_stacks_(max_stacks) {}

void Stepper::begin_step() {
  if (++step_ == 0) {  // wrapped: forget every mark
    std::fill(seen_.begin(), seen_.end(), 0);
    step_ = 1;
  }
  complete_ = false;
}

StepResult Stepper::start(std::vector<uint32_t>& tops) {
  begin_step();
  tops.clear();
  for (uint32_t alt : grammar_.alternatives(grammar_.root())) {
    if (!closure(pool_.intern(alt, kNoFrame), tops)) return StepResult::kTooAmbiguous;
  }
  return finish(tops);
}

StepResult Stepper::feed(std::vector<uint32_t>& tops, Utf8State& utf8, uint8_t byte) {
  Utf8State s = utf8;
  uint32_t cp = 0;
  switch (utf8_feed(s, byte, cp)) {
    case Utf8Step::kInvalid:
      return StepResult::kNoMatch;
    case Utf8Step::kPartial: {
      uint32_t lo = 0;
      uint32_t hi = 0;
      utf8_pending_range(s, lo, hi);
      if (!any_accepts(tops, lo, hi)) return StepResult::kNoMatch;
      utf8 = s;
      return StepResult::kOk;
    }
    case Utf8Step::kComplete:
      break;
  }
  const StepResult r = advance(tops, cp, next_);
  if (r != StepResult::kOk) return r;
  tops.swap(next_);
  utf8 = s;
  return StepResult::kOk;
}

StepResult Stepper::advance(std::span<const uint32_t> tops, uint32_t cp,
                            std::vector<uint32_t>& out) {
  begin_step();
  out.clear();
  for (uint32_t top : tops) {
    if (top == kNoFrame) continue;
    const Frame f = pool_[top];
    if (!grammar_.class_contains(grammar_.element(f.pos).value, cp)) continue;
    if (!closure(pool_.intern(f.pos + 1, f.parent), out)) return StepResult::kTooAmbiguous;
  }
  return finish(out);
}

bool Stepper::any_accepts(std::span<const uint32_t> tops, uint32_t lo, uint32_t hi) const {
  for (uint32_t top : tops) {
    if (top == kNoFrame) continue;
    if (grammar_.class_intersects(grammar_.element(pool_[top].pos).value, lo, hi)) return true;
  }
  return false;
}

// Expands `frame` until every resulting stack has a kChars element on top (or is empty),
// adding the tops to `out`. False when the set grows past max_stacks.
bool Stepper::closure(uint32_t frame, std::vector<uint32_t>& out) {
  work_.push_back(frame);
  while (!work_.empty()) {
    const uint32_t id = work_.back();
    work_.pop_back();
    if (id == kNoFrame) {  // returned from the start rule: a complete parse
      if (!complete_) out.push_back(kNoFrame);
      complete_ = true;
      continue;
    }
    if (id >= seen_.size()) seen_.resize(pool_.size() * 2, 0);
    if (seen_[id] == step_) continue;
    seen_[id] = step_;
    const Frame f = pool_[id];
    const Element& e = grammar_.element(f.pos);
    switch (e.kind) {
      case ElementKind::kChars:
        out.push_back(id);
        break;
      case ElementKind::kEnd:
        work_.push_back(f.parent);
        break;
      case ElementKind::kRule: {
        // In tail position the callee returns straight to our parent.
        const uint32_t ret = grammar_.element(f.pos + 1).kind == ElementKind::kEnd
                                 ? f.parent
                                 : pool_.intern(f.pos + 1, f.parent);
        for (uint32_t alt : grammar_.alternatives(e.value)) work_.push_back(pool_.intern(alt, ret));
        break;
      }
    }
    if (out.size() > max_stacks_) {
      work_.clear();
      return false;
    }
  }
  return true;
}

StepResult Stepper::finish(std::vector<uint32_t>& out) {
  if (out.empty()) return StepResult::kNoMatch;
  std::sort(out.begin(), out.end());
  return StepResult::kOk;
}

}  // namespace shardserve::grammar
