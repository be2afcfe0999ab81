// Grammars shared by the grammar tests (test-only).
#pragma once

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

}  // namespace shardserve::testing
