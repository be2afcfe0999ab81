// Grammars shared by the grammar tests (test-only).
#pragma once

#include <gtest/gtest.h>

#include <string_view>

#include "model/grammar/grammar.h"

namespace shardserve::testing {

// Generic JSON (RFC 8259): objects, arrays, strings with escapes, numbers, literals, and
// optional whitespace around the document.
inline constexpr const char* kJsonGbnf = R"gbnf(
# A JSON document with optional surrounding whitespace.
root   ::= ws value ws
value  ::= object | array | string | number | "true" | "false" | "null"
object ::= "{" ws ( member ( ws "," ws member )* ws )? "}"
member ::= string ws ":" ws value
array  ::= "[" ws ( value ( ws "," ws value )* ws )? "]"
string ::= "\"" ( [^"\\\x00-\x1F] | "\\" ( ["\\/bfnrt] | "u" [0-9a-fA-F]{4} ) )* "\""
number ::= "-"? ( "0" | [1-9] [0-9]* ) ( "." [0-9]+ )? ( [eE] [-+]? [0-9]+ )?
ws     ::= [ \t\n\r]*
)gbnf";

// `text` compiled; a failure is reported to the running test.
inline Grammar compile(std::string_view text) {
  Result<Grammar> g = Grammar::parse(text);
  EXPECT_TRUE(g.ok()) << g.error().message;
  return std::move(g).value();
}

// kJsonGbnf, compiled once.
inline const Grammar& json() {
  static const Grammar g = compile(kJsonGbnf);
  return g;
}

}  // namespace shardserve::testing
