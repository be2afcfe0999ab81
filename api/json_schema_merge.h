// Internal to api/: schema-level helpers for api/json_schema_grammar.h — which keywords are
// annotations, local $ref resolution, and folding `allOf` into one schema.
//
// merge_all_of turns {"allOf": [A, B, ...], siblings...} (or a $ref with sibling keywords,
// which means the same) into one equivalent schema, or fails when that cannot be done exactly:
//   - a part that is a $ref is replaced by its target, nested allOf parts are flattened;
//   - type: intersected; enum/const: intersected (as "enum"); required: united;
//   - minimum/minLength/minItems/exclusiveMinimum: the larger; the maximums: the smaller;
//   - properties/additionalProperties: a property is allowed when both parts allow it (listed,
//     or admitted by additionalProperties); its schema is the allOf of both parts' schemas
//     for it (merged again when compiled); additionalProperties: false if either is false;
//   - items/additionalItems: the allOf of both;
//   - anyOf/oneOf: kept from the one part that has it (two parts with unions fail);
//   - anything else (pattern, format, prefixItems, ...) must be equal in both parts.
// Errors are invalid_input naming the path and keyword, like every schema error.
// Pure functions; thread-safe.
#pragma once

#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "base/status.h"

namespace shardserve::api::json_grammar {

using ordered_json = nlohmann::ordered_json;

// Keywords that never constrain a value (title, description, default, examples, $schema,
// $id, $comment, deprecated, readOnly, writeOnly, $defs/definitions, $anchor, discriminator,
// OpenAPI's nullable, and "x-" extensions).
bool is_annotation_keyword(std::string_view keyword);

// True for `true`, `{}` and objects holding only annotations: schemas that accept anything.
bool accepts_everything(const ordered_json& schema);

// The schema `ref` points to inside `root`: "#" or "#/a/b" (a JSON pointer, ~0 ~1 and %XX
// escapes decoded). nullptr when it is not a local reference or points nowhere.
const ordered_json* resolve_ref(const ordered_json& root, std::string_view ref);

// The error path of a reference target: "<root_path>.$defs.Person" for "#/$defs/Person".
std::string ref_path(std::string_view root_path, std::string_view ref);

// `schema` (with "allOf", or "$ref" plus other constraints) as one schema without allOf at its
// top (nested property schemas may hold allOf). `path` is the schema's path for errors.
Result<ordered_json> merge_all_of(const ordered_json& root, const ordered_json& schema,
                                  const std::string& path);

}  // namespace shardserve::api::json_grammar
