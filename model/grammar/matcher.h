// The incremental state of one sequence against a Grammar: which bytes may come next.
//
// A pushdown recognizer. The state is a set of parse stacks (one per way the input so far
// can be read, deduplicated) plus the bytes of a UTF-8 character not yet complete, so a
// character may be split across accept() calls. accept() takes raw bytes; invalid UTF-8 is
// rejected. A rejected accept leaves the state exactly as it was, so a caller may also try
// bytes on a copy: a copy is two small flat vectors (the frames of the live stacks and the
// stack tops), with no pointers into shared structures.
//
// Ambiguity is bounded: a step that would need more than `max_stacks` stacks is refused
// like a mismatch (accept returns false) and ambiguity_exceeded() says so. Grammars from
// JSON schemas need a handful of stacks; the bound only stops pathological grammars from
// growing exponentially.
//
// Cost: accept() is linear in the bytes times the live frames (typically tens); it
// allocates a few small scratch vectors per call.
//
// Thread-safety: a matcher belongs to one sequence and is not thread-safe; the Grammar it
// points to is shared, immutable, and must outlive the matcher.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

#include "model/grammar/grammar.h"
#include "model/grammar/stacks.h"
#include "model/grammar/utf8.h"

namespace shardserve {

class TokenFilter;

class GrammarMatcher {
 public:
  static constexpr size_t kDefaultMaxStacks = 256;

  explicit GrammarMatcher(const Grammar& grammar, size_t max_stacks = kDefaultMaxStacks);

  // Advances over `bytes` if they can continue the grammar; otherwise returns false and
  // changes nothing. Empty input is accepted.
  bool accept(std::string_view bytes);
  // Whether accept(bytes) would succeed; changes nothing.
  bool can_accept(std::string_view bytes) const;

  // Advances over the grammar's control token k (Grammar::tokens()[k]) if it can come next (no
  // character pending); otherwise returns false and changes nothing.
  bool accept_token(uint32_t k);
  bool can_accept_token(uint32_t k) const;

  // The input so far is a complete sentence of the start rule (no character pending).
  bool can_end() const;
  // can_end() and nothing more can be accepted.
  bool is_finished() const;
  // The last accept() that failed did so because of the max_stacks bound, not a mismatch.
  bool ambiguity_exceeded() const { return ambiguity_exceeded_; }

  // Back to the state before any input.
  void reset();

  const Grammar& grammar() const { return *grammar_; }
  size_t max_stacks() const { return max_stacks_; }
  size_t n_stacks() const { return tops_.size(); }

 private:
  friend class TokenFilter;

  // Interns the live frames into an empty pool (ids come out equal to frames_ indices) and
  // returns the tops to step from.
  void load(grammar::FramePool& pool) const;
  // Keeps the frames reachable from `tops` (ids in `pool`), renumbered densely.
  void store(const grammar::FramePool& pool, const std::vector<uint32_t>& tops);
  bool step_token(uint32_t k, grammar::FramePool& pool, std::vector<uint32_t>& tops) const;
  bool run(std::string_view bytes, grammar::FramePool& pool, std::vector<uint32_t>& tops,
           grammar::Utf8State& utf8, grammar::StepResult& result) const;

  const Grammar* grammar_;
  size_t max_stacks_;
  std::vector<grammar::Frame> frames_;  // the live stacks' frames; parents before children
  std::vector<uint32_t> tops_;          // sorted indices into frames_; kNoFrame: empty stack
  grammar::Utf8State utf8_;             // a character begun but not complete
  bool ambiguity_exceeded_ = false;
};

}  // namespace shardserve
