// JSON Schema -> GBNF, for grammar-constrained decoding of response_format and tool calls.
//
// JsonGrammarBuilder compiles JSON Schemas (OpenAI's response_format json_schema, tool
// parameters) into one GBNF grammar in llama.cpp's syntax (`name ::= alt | alt`, "literals",
// [classes], ( ) * + ? {m,n}, start rule `root`, no left recursion), which the sampler's
// grammar matcher enforces. Several schemas can live in one grammar; rules are shared and
// named uniquely, and callers compose them with their own rules (add_rule, literal), e.g.
// "<tool_call>" name-rule arguments-rule "</tool_call>".
//
// The promise: every text the grammar matches is JSON that validates against the schema.
// What the schema requires and a grammar cannot say is an Error (HTTP 400), never ignored.
// The grammar may accept a subset of the valid documents (listed below under "Subset").
//
// Supported keywords (enforced exactly):
//   type (one name or an array: string number integer boolean null object array); without
//     "type", the types its keywords imply (properties -> object, ...), else any value.
//   enum, const (the values' compact JSON text; with "type", values of other types drop out).
//   anyOf, oneOf (as anyOf: that only one alternative matches is NOT checked, as in every
//     peer — llama.cpp, vLLM/xgrammar, Outlines; Pydantic unions rely on it); sibling
//     constraints are merged into each alternative.
//   allOf and $ref with sibling keywords, when the parts can be merged into one schema (see
//     api/json_schema_merge.h); otherwise an Error.
//   $ref to "#", "#/$defs/Name", "#/definitions/Name" or any JSON pointer into the same
//     schema. Recursive schemas become recursive rules; a cycle of $refs that matches no text
//     before recursing (left recursion, e.g. A = anyOf[A, null]) is an Error.
//   object: properties, required, additionalProperties (false, true or a schema).
//   array: items, prefixItems (and draft-7 items-array + additionalItems), minItems, maxItems,
//     uniqueItems: false.
//   string: minLength, maxLength (in characters); pattern (a practical ECMA-262 subset, see
//     api/json_schema_pattern.h; not combined with lengths or format); format: date, time,
//     date-time, uuid, ipv4 (exact); hostname, email, uri (a strict subset of the valid
//     values, see below). Other formats are an Error.
//   integer: minimum, maximum, exclusiveMinimum, exclusiveMaximum (any 64-bit range, exact).
//   number: the same bounds when they are whole numbers (e.g. minimum 0, 0..1, -90..90);
//     fractional bounds are an Error.
// Annotations are ignored: title, description, default, examples, $schema, $id, $comment,
// deprecated, readOnly, writeOnly, $defs/definitions (as containers), $anchor, discriminator,
// OpenAPI's nullable and "x-" extensions. Any other keyword — multipleOf, patternProperties,
// propertyNames, if/then/else, not, dependentRequired, uniqueItems: true, contains,
// min/maxProperties, unevaluatedProperties, contentEncoding, a typo — is an Error:
//   "<path>: keyword 'multipleOf' cannot be enforced"
// where <path> extends path_for_errors, e.g.
//   "response_format.json_schema.schema.properties.age: keyword 'multipleOf' cannot be enforced".
//
// Objects. Properties are written in the schema's order (pass ordered_json, or the order is
// alphabetical). Required properties are mandatory, optional ones may be left out, each
// where the schema lists it. When additionalProperties is absent only the listed properties
// are generated (as llama.cpp and xgrammar's strict mode do; OpenAI's strict mode requires
// additionalProperties: false anyway) — valid, since leaving properties out is always
// allowed. additionalProperties true or a schema admits further keys, different from the
// listed names, after the listed properties. An object schema without "properties" (e.g.
// {"type": "object"}) admits any object; "properties": {} alone admits only {}. Names in "required"
// but not in "properties" are generated with the additionalProperties schema (an Error when that is
// false).
//
// Whitespace. Between tokens at most one space, or a newline and up to 20 spaces or tabs
// (rule `ws`): compact and pretty-printed JSON both fit, and generation cannot loop on
// whitespace. No whitespace before or after the whole value.
//
// Subset (valid values the grammar does not produce): numbers in canonical form (integers
// without exponent or ".0"; unbounded integers up to 16 digits, fractions up to 16 digits,
// exponents up to 3; numbers with bounds without exponent); strings whose characters are
// written the one canonical way when a schema constrains them (pattern, length, format, enum,
// keys next to additionalProperties): raw where JSON allows, else \" \\ \b \f \n \r \t or
// \u00xx, and never \u escapes of surrogates anywhere (so each character is one code point);
// uppercase "T"/"Z" in date-time; email/hostname/uri only as dot-atom@host, DNS names of at
// most four labels, and http(s) URLs.
//
// Recursion must end: a schema whose every instance contains another instance of itself (a
// required property of its own type) has no finite value and is an Error, like left
// recursion. The grammar matcher must cope with repetition bounds taken from the schema
// (maxLength 100000 becomes char{0,100000}).
//
// Thread-safety: a builder is a plain value; use one per thread. Failure: add_schema returns
// an invalid_input Error and leaves the builder as it was.
#pragma once

#include <set>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "base/status.h"

namespace shardserve::api {

namespace json_grammar {
class SchemaCompiler;
}

// Builds one GBNF grammar from JSON schemas; rules are shared and named uniquely.
class JsonGrammarBuilder {
 public:
  JsonGrammarBuilder();

  // Adds the rules for a value matching `schema`; returns the name of its rule (a rule of its
  // own, or a shared one such as "string" for {"type": "string"}). `name_hint` names the rule
  // (default: the schema's "title", else "schema"). On failure the builder is unchanged.
  Result<std::string> add_schema(const nlohmann::ordered_json& schema,
                                 std::string_view path_for_errors, std::string_view name_hint = {});
  // Any JSON value / any JSON object (response_format {"type": "json_object"}).
  std::string add_any_json_value();
  std::string add_any_json_object();
  // Adds `name ::= body` with a fresh name made from `name_hint` (letters, digits and '-'
  // kept, other characters become '-'); returns the name. `body` is GBNF and may refer to
  // rules returned earlier. No checks: the body is the caller's responsibility.
  std::string add_rule(std::string_view name_hint, std::string body);
  // A GBNF string literal matching `text` exactly ("\"<tool_call>\"").
  static std::string literal(std::string_view text);
  // The whole grammar: "root ::= <root_rule>" and then every rule, one per line.
  std::string gbnf(std::string_view root_rule) const;

 private:
  friend class json_grammar::SchemaCompiler;

  struct Rule {
    std::string name;
    std::string body;                // empty while reserved
    std::vector<std::string> heads;  // rules that can match first (for left-recursion checks)
    std::string path;                // the schema it came from, for errors
    // Per way of matching, the rules a match must contain (for finiteness checks): {{}} when
    // the rule needs nothing, {{"A"}, {"B", "C"}} when it needs A, or both B and C.
    std::vector<std::vector<std::string>> needs = {{}};
  };

  // A fresh name from `hint`, reserved (its rule is defined later, in this position).
  std::string reserve(std::string_view hint);
  void define(const std::string& name, std::string body, std::vector<std::string> heads = {},
              std::string path = {}, std::vector<std::vector<std::string>> needs = {{}});
  void release(const std::string& name);  // drops a reserved, undefined name
  // A shared rule (value, object, string, char, ws, date, ...), defined on first use.
  std::string builtin(std::string_view name);

  std::vector<Rule> rules_;                   // in the order they are written
  std::set<std::string, std::less<>> names_;  // every name in use or reserved
};

// One schema as a whole grammar: `root ::= <its rule>`.
Result<std::string> json_schema_to_gbnf(const nlohmann::ordered_json& schema,
                                        std::string_view path_for_errors);

}  // namespace shardserve::api
