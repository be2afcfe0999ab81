// Internal to api/: typed readers for request fields that turn every problem into an
// OpenAI-worded ApiError. Used by the chat and completions parsers; not a public interface.
//
// A FieldReader remembers the first error and ignores everything after it, so a parser can
// read all its fields in order and check once at the end. Every reader returns nullopt when
// the field is absent, null, or wrong (then error() says why). No reader throws.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "api/openai_error.h"
#include "api/openai_request.h"

namespace shardserve::api::detail {

using json = nlohmann::json;

// Parses a request body: a JSON object nested at most kMaxJsonDepth deep, valid UTF-8.
ApiResult<json> parse_body(std::string_view body);

// `text` parsed as one JSON value (any type) nested at most kMaxJsonDepth deep, keys in their
// order of appearance; nullopt when it is not such a value. For JSON carried inside strings
// (tool call arguments).
std::optional<nlohmann::ordered_json> parse_json_text(std::string_view text);

// What every request parser starts with: the body parsed (parse_body), its keys checked
// against the endpoint's lists (FieldReader::check_keys) and the required string `model`.
struct RequestHead {
  json body;
  std::string model;
};
ApiResult<RequestHead> read_request_head(std::string_view body_text,
                                         std::span<const std::string_view> supported,
                                         std::span<const std::string_view> unsupported);

// "a string", "an integer", "a decimal number", "a boolean", "an object", "an array", "null".
std::string describe_type(const json& value);

// Bounds of a number. Exclusive bounds are written "> 0" in messages.
struct NumberRange {
  double min;
  double max;
  bool min_exclusive = false;
  bool max_exclusive = false;
};

class FieldReader {
 public:
  bool ok() const { return !error_.has_value(); }
  const ApiError& error() const { return *error_; }
  // Records `error` unless an earlier one is already recorded.
  void fail(ApiError error);

  // `value` of field `param`. Nothing is read (nullopt) when value is null or an error was
  // recorded before.
  std::optional<double> number(const json& value, const std::string& param, NumberRange range);
  // An integer (a decimal with no fraction, like 10.0, is accepted) in [min, max].
  std::optional<int64_t> integer(const json& value, const std::string& param, int64_t min,
                                 int64_t max);
  std::optional<bool> boolean(const json& value, const std::string& param);
  std::optional<std::string> string(const json& value, const std::string& param);

  // Same, for object[key] (the param is the key); absent keys read as null.
  std::optional<double> number(const json& object, const char* key, NumberRange range);
  std::optional<int64_t> integer(const json& object, const char* key, int64_t min, int64_t max);
  std::optional<bool> boolean(const json& object, const char* key);
  std::optional<std::string> string(const json& object, const char* key);
  // A string field that must be present and not null (else "Missing required parameter").
  std::optional<std::string> required_string(const json& object, const char* key);

  // Shared fields with their OpenAI rules.
  // stop: a string or an array of up to kMaxStops non-empty strings.
  std::optional<std::vector<std::string>> stop(const json& body);
  // logit_bias: {"<token id>": bias in [-100, 100], ...}.
  std::optional<std::vector<std::pair<int32_t, double>>> logit_bias(const json& body);
  // stream_options: {include_usage: bool}; only allowed when `stream` is true.
  void stream_options(const json& body, bool stream, GenerationOptions& options);
  // Sampling fields common to both endpoints (temperature, top_p, top_k, min_p,
  // repetition_penalty, presence/frequency_penalty, logit_bias, seed, n, stop, stream,
  // stream_options, user, ignore_eos).
  void common_options(const json& body, GenerationOptions& options);

  // Rejects keys of `body` that are not in `supported` (OpenAI's wording for unknown keys)
  // and keys in `unsupported` whose value is not neutral (see is_neutral).
  void check_keys(const json& body, std::span<const std::string_view> supported,
                  std::span<const std::string_view> unsupported);

 private:
  std::optional<ApiError> error_;
};

// Error builders in OpenAI's words.
ApiError invalid_type(const std::string& param, std::string_view expected, const json& got);
ApiError missing_parameter(const std::string& param);
ApiError unsupported_parameter(const std::string& param, std::string_view why = {});

// The value an unsupported parameter may carry without changing anything (null, [], "none",
// false, ...).
bool is_neutral(std::string_view key, const json& value);
// Why an unsupported parameter is refused, one sentence for its error message ("" when
// nothing to add).
std::string_view unsupported_hint(std::string_view key);

}  // namespace shardserve::api::detail
