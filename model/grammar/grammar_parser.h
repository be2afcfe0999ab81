// GBNF text -> rules of symbols (internal to model/grammar; Grammar::parse is the API).
//
// The parser does the syntax: rules, alternatives, literals, classes, groups and the
// expansion of repetitions into helper rules. It reports syntax errors with line:column.
// What needs the whole grammar (undefined rules, the start rule, left recursion) is checked
// by Grammar::parse on the result.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"
#include "model/grammar/grammar.h"

namespace shardserve::grammar {

struct Location {
  uint32_t line = 1;
  uint32_t column = 1;
};

std::string location_prefix(Location where);  // "line L:C: "

struct Symbol {
  ElementKind kind;  // kChars or kRule
  uint32_t value;    // class index or rule index
};

using Sequence = std::vector<Symbol>;

enum class RuleOrigin : uint8_t {
  kUser,      // name ::= ...
  kGroup,     // ( a | b )
  kRepeat,    // the loop of x*, x+ or x{m,}
  kOptional,  // x?, or one link of the chain of x{m,n}
};

struct ParsedRule {
  std::string name;
  std::vector<Sequence> alternatives;
  RuleOrigin origin = RuleOrigin::kUser;
  bool defined = false;
  Location where;      // the definition (or, for helpers, the expression they come from)
  Location first_use;  // the first reference
  bool used = false;
};

struct ParsedGrammar {
  std::vector<ParsedRule> rules;
  std::vector<std::vector<CharRange>> classes;  // sorted, merged, positive
  std::vector<std::string> tokens;              // named control tokens (@"TEXT"), distinct
};

Result<ParsedGrammar> parse_gbnf(std::string_view text);

}  // namespace shardserve::grammar
