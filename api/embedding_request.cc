// parse_embedding_request: POST /v1/embeddings bodies.
#include "api/embedding_request.h"

#include <array>
#include <limits>
#include <string_view>

#include "api/request_fields.h"

namespace shardserve::api {

namespace {

using detail::FieldReader;
using detail::json;

constexpr std::array<std::string_view, 6> kSupported = {"model",      "input", "encoding_format",
                                                        "dimensions", "user",  "truncate"};

constexpr std::array<std::string_view, 0> kUnsupported = {};

constexpr int64_t kMaxTokenId = std::numeric_limits<int32_t>::max();

constexpr std::string_view kExpectedInput =
    "a string, an array of strings, an array of token ids or an array of token-id arrays";

std::string at(const std::string& base, size_t i) {
  return base + "[" + std::to_string(i) + "]";
}

ApiError empty_array(const std::string& param) {
  return ApiError::bad_request("Invalid '" + param +
                                   "': empty array. Expected an array with minimum length 1, "
                                   "but got an empty array instead.",
                               param, "empty_array");
}

ApiError empty_string(const std::string& param) {
  return ApiError::bad_request(
      "'" + param + "' is an empty string; every input must have at least one character.", param,
      "empty_string");
}

// The kind of every element of an `input` array, set by its first element.
enum class ElementKind { Text, TokenId, TokenIds };

std::string_view describe(ElementKind kind) {
  switch (kind) {
    case ElementKind::Text:
      return "a string";
    case ElementKind::TokenId:
      return "an integer token id";
    case ElementKind::TokenIds:
      return "an array of token ids";
  }
  return "";
}

// Element `param` is not of the kind input[0] set.
ApiError mixed_elements(const std::string& param, ElementKind kind, const json& got) {
  return ApiError::bad_request("Invalid type for '" + param + "': expected " +
                                   std::string(describe(kind)) + " like 'input[0]', but got " +
                                   detail::describe_type(got) +
                                   " instead. The elements of 'input' must all be strings, all "
                                   "token ids or all arrays of token ids.",
                               param, "invalid_type");
}

std::optional<int32_t> token_id(FieldReader& r, const json& value, const std::string& param) {
  const auto id = r.integer(value, param, 0, kMaxTokenId);
  if (!id) return std::nullopt;
  return static_cast<int32_t>(*id);
}

// input[i] of the token-id-arrays form: a non-empty array of token ids.
std::optional<std::vector<int32_t>> token_id_array(FieldReader& r, const json& array,
                                                   const std::string& param) {
  if (array.empty()) {
    r.fail(empty_array(param));
    return std::nullopt;
  }
  std::vector<int32_t> ids;
  ids.reserve(array.size());
  for (size_t i = 0; i < array.size(); ++i) {
    const std::string p = at(param, i);
    if (!array[i].is_number()) {
      r.fail(detail::invalid_type(p, "an integer token id", array[i]));
      return std::nullopt;
    }
    const auto id = token_id(r, array[i], p);
    if (!id) return std::nullopt;
    ids.push_back(*id);
  }
  return ids;
}

// input: a string, an array of strings, an array of token ids (one input) or an array of
// token-id arrays.
std::optional<std::vector<EmbeddingInput>> read_inputs(FieldReader& r, const json& body) {
  const auto it = body.find("input");
  if (it == body.end() || it->is_null()) {
    r.fail(detail::missing_parameter("input"));
    return std::nullopt;
  }
  const json& input = *it;
  std::vector<EmbeddingInput> inputs;
  if (input.is_string()) {
    if (input.get_ref<const std::string&>().empty()) {
      r.fail(empty_string("input"));
      return std::nullopt;
    }
    inputs.emplace_back(input.get<std::string>());
    return inputs;
  }
  if (!input.is_array()) {
    r.fail(detail::invalid_type("input", kExpectedInput, input));
    return std::nullopt;
  }
  if (input.empty()) {
    r.fail(empty_array("input"));
    return std::nullopt;
  }

  const json& first = input.front();
  if (first.is_number()) {  // one input of token ids
    std::vector<int32_t> ids;
    ids.reserve(input.size());
    for (size_t i = 0; i < input.size(); ++i) {
      const std::string param = at("input", i);
      if (!input[i].is_number()) {
        r.fail(mixed_elements(param, ElementKind::TokenId, input[i]));
        return std::nullopt;
      }
      const auto id = token_id(r, input[i], param);
      if (!id) return std::nullopt;
      ids.push_back(*id);
    }
    inputs.emplace_back(std::move(ids));
    return inputs;
  }
  if (!first.is_string() && !first.is_array()) {
    r.fail(detail::invalid_type("input[0]",
                                "a string, an integer token id or an array of token ids", first));
    return std::nullopt;
  }
  if (input.size() > static_cast<size_t>(kMaxEmbeddingInputs)) {
    r.fail(ApiError::bad_request(
        "Invalid 'input': array too long. Expected an array with maximum length " +
            std::to_string(kMaxEmbeddingInputs) + ", but got an array with length " +
            std::to_string(input.size()) + " instead.",
        "input", "array_above_max_length"));
    return std::nullopt;
  }
  const ElementKind kind = first.is_string() ? ElementKind::Text : ElementKind::TokenIds;
  inputs.reserve(input.size());
  for (size_t i = 0; i < input.size(); ++i) {
    const json& item = input[i];
    const std::string param = at("input", i);
    if (kind == ElementKind::Text) {
      if (!item.is_string()) {
        r.fail(mixed_elements(param, kind, item));
        return std::nullopt;
      }
      if (item.get_ref<const std::string&>().empty()) {
        r.fail(empty_string(param));
        return std::nullopt;
      }
      inputs.emplace_back(item.get<std::string>());
    } else {
      if (!item.is_array()) {
        r.fail(mixed_elements(param, kind, item));
        return std::nullopt;
      }
      auto ids = token_id_array(r, item, param);
      if (!ids) return std::nullopt;
      inputs.emplace_back(std::move(*ids));
    }
  }
  return inputs;
}

}  // namespace

ApiResult<EmbeddingRequest> parse_embedding_request(std::string_view body_text) {
  auto head = detail::read_request_head(body_text, kSupported, kUnsupported);
  if (!head.ok()) return head.error();
  const json& body = head.value().body;
  FieldReader r;
  EmbeddingRequest request;
  request.model = std::move(head.value().model);

  auto inputs = read_inputs(r, body);
  if (!inputs) return r.error();
  request.inputs = std::move(*inputs);

  if (auto format = r.string(body, "encoding_format")) {
    if (*format == "base64") {
      request.base64 = true;
    } else if (*format != "float") {
      r.fail(ApiError::bad_request(
          "Invalid value: '" + *format + "'. Supported values are: 'float' and 'base64'.",
          "encoding_format", "invalid_value"));
    }
  }
  request.dimensions = r.integer(body, "dimensions", 1, std::numeric_limits<int64_t>::max());
  if (auto user = r.string(body, "user")) request.user = std::move(*user);
  if (auto truncate = r.boolean(body, "truncate")) request.truncate = *truncate;
  if (!r.ok()) return r.error();
  return request;
}

}  // namespace shardserve::api
