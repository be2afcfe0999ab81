// Internal to api/: JSON Schema `pattern` -> GBNF, for api/json_schema_grammar.h.
//
// A pattern is an ECMA-262 regular expression that a string must CONTAIN a match of (it is
// not implicitly anchored). The translation is exact for this subset, and an Error names
// whatever else it meets:
//   literals and escaped punctuation (\. \/ \- ...), \t \n \r \f \v \0 \xHH \uHHHH;
//   classes [a-z] [^...] with \d \w \s inside, and \d \D \w \W \s \S (ECMA definitions);
//   . (any character but \n \r U+2028 U+2029); groups ( ) (?: ) (?<name> ); alternation |;
//   quantifiers * + ? {m} {m,} {m,n}, lazy or not (laziness does not change what matches);
//   ^ at the start and $ at the end of a top-level alternative. An alternative without ^
//   may be preceded by any text, one without $ followed by any text.
// Not supported (Error): lookaround (?= (?! (?<= (?<!, backreferences \1 \k<..>, word
// boundaries \b \B, \p{..} classes, \c control escapes, and inline flags.
//
// The result matches the canonical JSON-string encoding (json_grammar_text.h) of the matching
// strings, without the surrounding quotes: `"` in a pattern becomes \" in the grammar, a
// newline \n, and so on. Pure function; thread-safe.
#pragma once

#include <string>
#include <string_view>

#include "base/status.h"

namespace shardserve::api::json_grammar {

// `any_char_rule`: the name of a rule matching the canonical encoding of any one character,
// used for the text around an unanchored match. The Error message says what is unsupported
// and where, e.g. "lookahead '(?=' is not supported (at offset 3)".
Result<std::string> pattern_to_gbnf(std::string_view pattern, std::string_view any_char_rule);

}  // namespace shardserve::api::json_grammar
