// A context-free grammar written in GBNF (llama.cpp's grammar format), compiled for
// GrammarMatcher (matcher.h).
//
// Syntax accepted by Grammar::parse:
//   name ::= alternatives      a rule; it continues (across lines) until the next `name ::=`.
//                              Names are letters, digits, '-' and '_'. The start rule is root.
//   a | b                      alternatives; an alternative may be empty (matches nothing).
//   a b c                      a sequence.
//   "text"                     a literal (UTF-8); escapes \n \t \r \\ \" \' \[ \] \- \xHH
//                              \uHHHH \UHHHHHHHH (each names a code point: \xC3 is U+00C3).
//   [a-z0-9_] [^"\\]           a character class (ranges, the same escapes); ^ negates it
//                              over all code points.
//   .                          any one code point.
//   @"TEXT"                    the control token whose text is TEXT (e.g. @"[TOOL_CALLS]"):
//                              matched by that token of the vocabulary only, never by text
//                              (GrammarMatcher::accept_token; TokenFilter resolves the name).
//   ( ... )                    grouping.
//   x* x+ x? x{m} x{m,} x{m,n} repetition (counts up to kMaxRepeat).
//   # ...                      a comment to the end of the line.
// Characters are Unicode code points; the matcher decodes UTF-8.
//
// Compilation expands groups and repetitions into helper rules (named "parent/N"):
// x* becomes S ::= x S | (empty); x{m,n} becomes x repeated m times followed by a chain of
// n - m nested optional rules, so the size is linear in the counts. Character classes
// become sorted, merged, positive code point ranges (negation is resolved here).
//
// Errors are values (ErrorCode::kInvalidInput) whose message starts with "line L:C:"
// (1-based; the column counts bytes) and says what is wrong: syntax errors, a rule that is
// referenced but not defined, a rule defined twice, a missing start rule, and left
// recursion (a rule that can reach itself without consuming input, directly or through
// other rules, including x* where x can match the empty string), which a top-down matcher
// cannot handle.
//
// A Grammar is immutable after parse and thread-safe: any number of matchers on any
// threads may share one. Matchers keep a pointer to it, so it must outlive them.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"

namespace shardserve {

namespace grammar {

// The compiled form: every alternative of every rule is a run of elements in one array,
// closed by kEnd. A grammar position is an index into that array.
enum class ElementKind : uint8_t {
  kChars,  // one code point from a character class; value = class index
  kRule,   // a reference; value = rule index
  kEnd,    // end of an alternative; value = the rule it belongs to
};

struct Element {
  ElementKind kind;
  uint32_t value;
};

// Inclusive code point range.
struct CharRange {
  uint32_t lo;
  uint32_t hi;
};

inline constexpr uint32_t kMaxCodePoint = 0x10FFFF;
// Control token k of a grammar (Grammar::tokens()[k]) is the symbol kTokenBase + k: past every
// code point, so no text and no character class ('.', [^...]) can match it.
inline constexpr uint32_t kTokenBase = 0x110000;
inline constexpr uint32_t kMaxRepeat = 100000;  // largest count in x{m,n}

}  // namespace grammar

class Grammar {
 public:
  static Result<Grammar> parse(std::string_view gbnf, std::string_view root_rule = "root");

  uint32_t root() const { return root_; }
  size_t n_rules() const { return rule_names_.size(); }
  const std::string& rule_name(uint32_t rule) const { return rule_names_[rule]; }
  // Start positions of the rule's alternatives.
  std::span<const uint32_t> alternatives(uint32_t rule) const {
    return {alt_starts_.data() + rule_alt_begin_[rule],
            alt_starts_.data() + rule_alt_begin_[rule + 1]};
  }
  const grammar::Element& element(uint32_t pos) const { return elements_[pos]; }
  size_t n_elements() const { return elements_.size(); }

  size_t n_classes() const { return classes_.size(); }
  bool class_contains(uint32_t cls, uint32_t cp) const {
    const CharClass& c = classes_[cls];
    if (cp < 128) return (c.ascii[cp >> 6] >> (cp & 63)) & 1;
    return ranges_intersect(c, cp, cp);
  }
  // Whether the class holds any code point in [lo, hi].
  bool class_intersects(uint32_t cls, uint32_t lo, uint32_t hi) const {
    return ranges_intersect(classes_[cls], lo, hi);
  }
  std::span<const grammar::CharRange> class_ranges(uint32_t cls) const {
    return {ranges_.data() + classes_[cls].begin, ranges_.data() + classes_[cls].end};
  }

  // The control tokens the grammar names (@"TEXT"), by text; token k is the symbol
  // grammar::kTokenBase + k.
  std::span<const std::string> tokens() const { return tokens_; }
  // The index of the token named `text`, or -1.
  int32_t token_index(std::string_view text) const;

  // Code points in the same interval belong to exactly the same classes, so the matcher
  // treats them alike. Intervals partition [0, kMaxCodePoint].
  uint32_t interval_of(uint32_t cp) const;
  uint32_t interval_start(uint32_t interval) const { return interval_starts_[interval]; }
  size_t n_intervals() const { return interval_starts_.size(); }

  // All rules, helper rules included, one per line in GBNF (for tests and debugging).
  std::string to_string() const;

 private:
  struct CharClass {
    uint64_t ascii[2];  // bit c: whether code point c < 128 is in the class
    uint32_t begin;     // ranges_[begin, end)
    uint32_t end;
  };
  friend class GrammarBuilder;

  bool ranges_intersect(const CharClass& c, uint32_t lo, uint32_t hi) const;

  std::vector<grammar::Element> elements_;
  std::vector<uint32_t> alt_starts_;      // start position of each alternative, rule by rule
  std::vector<uint32_t> rule_alt_begin_;  // [n_rules + 1] rule r: alt_starts_[begin_r, begin_r+1)
  std::vector<std::string> rule_names_;
  std::vector<CharClass> classes_;
  std::vector<grammar::CharRange> ranges_;
  std::vector<uint32_t> interval_starts_;  // sorted; interval k is [start_k, start_k+1 - 1]
  std::vector<std::string> tokens_;
  uint32_t root_ = 0;
};

}  // namespace shardserve
