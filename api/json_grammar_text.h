// Internal to api/: the GBNF text pieces the JSON-schema compiler (api/json_schema_grammar.h)
// is built from. Not a public interface.
//
//   CharSet              a set of Unicode scalar values (sorted ranges; never surrogates)
//   char_class(set)      "[a-z_]" or "[^\"\\\x00-\x1F]": one GBNF char class
//   json_string_chars    a GBNF primary matching the JSON-string encoding of one character of a
//                        set: raw where JSON allows it, else its escape (see below)
//   gbnf_literal(text)   "\"...\"": a GBNF string literal matching `text` exactly
//   integer_range / number_range / format_body: value grammars for numbers and string formats
//
// Canonical encoding. Inside JSON strings every character is written one way: raw when JSON
// allows it (U+0020 and above, except '"' and '\'), as \" \\ \b \f \n \r \t, or as \u00xx
// (lower-case hex) for the other control characters. A grammar over this encoding matches each
// decoded string exactly once, so "a string not equal to X" and "at most N characters" can be
// said in GBNF without a model sneaking past it through an alternative escape.
//
// Numbers. Unbounded integers have at most kMaxIntegerDigits digits and fractions at most
// kMaxFractionDigits, so that generation cannot run on forever inside one number; bounded
// numbers (number_range) are written without an exponent.
//
// GBNF rendering: string literals escape '"', '\', \n \r \t and other control bytes as \xHH
// and keep non-ASCII text as UTF-8; char classes escape '\', ']', '^' (\x5E), '-' (\x2D),
// control characters (\xHH) and non-ASCII ones (\uHHHH, or \UHHHHHHHH above U+FFFF, the
// latter only when a pattern names such characters). Pure functions; thread-safe.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "base/utf8.h"

namespace shardserve::api::json_grammar {

inline constexpr char32_t kMaxCodePoint = 0x10FFFF;
inline constexpr int kMaxIntegerDigits = 16;   // every IEEE double integer up to 2^53 fits
inline constexpr int kMaxFractionDigits = 16;  // digits after the decimal point
inline constexpr int kMaxExponentDigits = 3;   // unbounded numbers: [eE][+-]?d{1,3}

class CharSet {
 public:
  using Range = std::pair<char32_t, char32_t>;  // inclusive

  CharSet() = default;
  static CharSet single(char32_t c) { return range(c, c); }
  static CharSet range(char32_t lo, char32_t hi);
  static CharSet all();  // every Unicode scalar value

  void add(char32_t lo, char32_t hi);  // surrogates (U+D800..U+DFFF) are dropped
  void add(const CharSet& other);
  CharSet complement() const;  // within all()
  CharSet intersect(const CharSet& other) const;
  CharSet minus(const CharSet& other) const { return intersect(other.complement()); }

  bool empty() const { return ranges_.empty(); }
  bool contains(char32_t c) const;
  std::optional<char32_t> only() const;  // the character when the set has exactly one
  const std::vector<Range>& ranges() const { return ranges_; }

 private:
  std::vector<Range> ranges_;  // sorted, disjoint, not adjacent
};

// UTF-8 <-> code points. decode_utf8 returns nullopt on malformed input.
std::optional<std::u32string> decode_utf8(std::string_view text);
using shardserve::append_utf8;  // base/utf8.h

// GBNF text. `set` must not be empty.
std::string char_class(const CharSet& set);
std::string gbnf_literal(std::string_view text);
// The canonical JSON-string encoding of one character (without quotes), e.g. "\\n" for U+000A.
std::string json_escape_char(char32_t c);
// The canonical JSON encoding of `text` with its quotes; text must be valid UTF-8.
std::string json_quote(std::string_view text);
// A GBNF primary (one literal, class or parenthesised group) matching the canonical encoding
// of any one character of `set`. `set` must not be empty.
std::string json_string_chars(const CharSet& set);

// `expr` repeated min..max times (max nullopt: unbounded) with GBNF's shortest suffix:
// "", "?", "*", "+", "{n}", "{n,}", "{n,m}". `expr` must be a primary. Empty when max is 0.
std::string repeat(const std::string& expr, uint64_t min, std::optional<uint64_t> max);
// The parts appended in order (a concatenation GCC 12's -Wrestrict does not misjudge).
std::string cat(std::initializer_list<std::string_view> parts);
// "( a | b )" for several alternatives, the alternative itself for one.
std::string group_alternatives(const std::vector<std::string>& alternatives);

// Canonical JSON integers (no leading zeros, no "-0") in [lo, hi]; nullopt ends are open (an
// open top stops at kMaxIntegerDigits digits, or at the bound's length if that is longer).
// Returns nullopt when no integer lies in the range.
std::optional<std::string> integer_range(std::optional<int64_t> lo, std::optional<int64_t> hi);

// A bound on a number: `value`, inclusive unless `exclusive`.
struct NumberBound {
  int64_t value = 0;
  bool exclusive = false;
};
// JSON numbers without exponent whose value lies within the bounds (at least one given);
// nullopt when none does.
std::optional<std::string> number_range(std::optional<NumberBound> lo,
                                        std::optional<NumberBound> hi);

// GBNF for the text (without quotes) of a string `format`: date, time, date-time, uuid, ipv4,
// hostname, email, uri. nullopt for formats not enforced. See json_schema_grammar.h for what
// each accepts.
std::optional<std::string> format_body(std::string_view format);

// Joins the non-empty GBNF sequence parts with spaces.
std::string seq(std::initializer_list<std::string> parts);

}  // namespace shardserve::api::json_grammar
