#include "coordinator/serving/structured_output.h"

#include "api/json_schema_grammar.h"

namespace shardserve {

api::ApiResult<std::string> response_format_grammar(const api::ResponseFormat& format) {
  using Type = api::ResponseFormat::Type;
  if (format.type == Type::kText) return std::string();
  api::JsonGrammarBuilder builder;
  if (format.type == Type::kJsonObject || format.schema.is_null())
    return builder.gbnf(builder.add_any_json_object());
  const std::string param = "response_format.json_schema.schema";
  auto root = builder.add_schema(format.schema, param, format.name);
  if (!root) return api::ApiError::bad_request(root.error().message, param, "unsupported_schema");
  return builder.gbnf(*root);
}

}  // namespace shardserve
