// Sets of parse stacks: the engine under GrammarMatcher and TokenFilter (internal to
// model/grammar).
//
// A stack is a chain of frames from the top down; frame (pos, parent) says "continue at
// grammar position pos, then return to frame parent". Frames are interned in a FramePool,
// so equal stacks have equal top frame ids and a set of stacks is a sorted list of top
// frame ids (kNoFrame standing for the empty stack: a complete parse of the start rule).
// Tops always sit on kChars elements: rule references and ends of alternatives are
// expanded eagerly (the closure). A reference in tail position pushes no return frame, so
// right recursion (the loops x* compiles to) keeps stacks flat. The grammar has no left
// recursion (Grammar::parse rejects it), so a closure always terminates; each frame is
// expanded at most once per step, so a step costs at most the distinct frames it reaches.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "model/grammar/grammar.h"
#include "model/grammar/utf8.h"

namespace shardserve::grammar {

inline constexpr uint32_t kNoFrame = UINT32_MAX;  // no parent; as a top, the empty stack

struct Frame {
  uint32_t pos;
  uint32_t parent;
};

// Frames, each (pos, parent) pair stored once. Ids are dense and a frame's parent always
// has a smaller id than the frame.
class FramePool {
 public:
  FramePool();
  uint32_t intern(uint32_t pos, uint32_t parent);
  const Frame& operator[](uint32_t id) const { return frames_[id]; }
  size_t size() const { return frames_.size(); }

 private:
  void rehash(size_t n_slots);

  std::vector<Frame> frames_;
  std::vector<uint32_t> slots_;  // open addressing (linear probing) of frame ids; kNoFrame: free
  uint32_t shift_ = 0;           // 64 - log2(slots_.size())
};

enum class StepResult : uint8_t { kOk, kNoMatch, kTooAmbiguous };

// Successor stack sets. Keeps scratch buffers between calls; not thread-safe.
class Stepper {
 public:
  Stepper(const Grammar& grammar, FramePool& pool, size_t max_stacks);

  // The stacks before any input: the closure of the start rule.
  StepResult start(std::vector<uint32_t>& tops);
  // Consumes one byte of UTF-8. On kOk, `tops` and `utf8` are the new state; otherwise they
  // are unchanged. A byte that leaves a character pending is accepted only if some stack
  // can take a code point the character may still become.
  StepResult feed(std::vector<uint32_t>& tops, Utf8State& utf8, uint8_t byte);
  // out = the stacks after consuming code point `cp` from `tops` (sorted).
  StepResult advance(std::span<const uint32_t> tops, uint32_t cp, std::vector<uint32_t>& out);
  // Whether some stack can take a code point in [lo, hi].
  bool any_accepts(std::span<const uint32_t> tops, uint32_t lo, uint32_t hi) const;

 private:
  void begin_step();
  bool closure(uint32_t frame, std::vector<uint32_t>& out);
  StepResult finish(std::vector<uint32_t>& out);

  const Grammar& grammar_;
  FramePool& pool_;
  size_t max_stacks_;
  std::vector<uint32_t> work_;  // frames to expand
  std::vector<uint32_t> seen_;  // per frame id: the step that last expanded it
  uint32_t step_ = 0;
  bool complete_ = false;       // the current step already emitted kNoFrame
  std::vector<uint32_t> next_;  // feed's result before it is swapped in
};

}  // namespace shardserve::grammar
