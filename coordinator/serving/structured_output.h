// What a chat request's response_format asks of the tokens: the GBNF grammar (model/grammar/)
// the group leader's sampler enforces, compiled here from the JSON schema so that text and
// schemas stay in the coordinator (api/json_schema_grammar.h).
//
// text -> no grammar (""); json_object -> any JSON object; json_schema -> JSON that validates
// against the schema. A schema keyword the grammar cannot enforce is a 400 naming it, with
// `param` "response_format.json_schema.schema" and code "unsupported_schema".
#pragma once

#include <string>

#include "api/openai_error.h"
#include "api/openai_request.h"

namespace shardserve {

api::ApiResult<std::string> response_format_grammar(const api::ResponseFormat& format);

}  // namespace shardserve
