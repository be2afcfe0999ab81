// OpenAI-style API errors and ApiResult<T>.
//
// An ApiError is what a client sees when a request fails: an HTTP status plus the body
// {"error": {"message", "type", "param", "code"}} that OpenAI sends (param and code are
// null when empty). The named constructors fix the status and `type` the way OpenAI's API
// does, so handlers never spell them by hand. Messages say what was wrong and what was
// expected; they never contain internal details (file paths, exception names).
//
// ApiResult<T> holds a T or an ApiError, like base/status.h's Result<T>.
// Everything here is a plain value: copyable, no shared state, thread-safe to use.
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <variant>

#include <nlohmann/json.hpp>

#include "base/status.h"

namespace shardserve::api {

struct ApiError {
  int status = 500;       // HTTP status code
  std::string message;    // for humans: what went wrong and what is expected
  std::string type;       // OpenAI's error type, e.g. "invalid_request_error"
  std::string param;      // the request field at fault ("" -> null), e.g. "messages[0].role"
  std::string code;       // machine-readable detail ("" -> null), e.g. "invalid_type"
  int retry_after_s = 0;  // > 0: the Retry-After header of the answer, in seconds

  // 400 invalid_request_error: the request is malformed or a value is invalid.
  static ApiError bad_request(std::string message, std::string param = {}, std::string code = {});
  // 401 authentication_error, code "invalid_api_key".
  static ApiError unauthorized(std::string message = {});
  // 404 not_found_error (unknown route or object).
  static ApiError not_found(std::string message, std::string param = {});
  // 404 invalid_request_error, code "model_not_found", param "model": OpenAI's exact shape.
  static ApiError model_not_found(std::string_view model);
  // 405 invalid_request_error.
  static ApiError method_not_allowed(std::string_view method, std::string_view path);
  // 413 invalid_request_error, code "payload_too_large".
  static ApiError payload_too_large(size_t limit_bytes);
  // 429 rate_limit_error, code "rate_limit_exceeded" (queue full, too many requests).
  static ApiError rate_limited(std::string message = {});
  // 500 server_error: a failure on our side (e.g. a worker group died mid-request).
  static ApiError server_error(std::string message = {});
  // 503 server_error, code "service_unavailable" (no worker group can serve the model now).
  static ApiError unavailable(std::string message = {});
  // The answer to an expected failure from below the API (base/status.h): kInvalidInput is a
  // 400 naming `param`, kUnavailable a 503, kInternal a 500.
  static ApiError from(ErrorCode code, std::string message, std::string param = {});

  // {"error": {"message", "type", "param", "code"}}, keys in that order.
  nlohmann::ordered_json to_json() const;
  // to_json() serialised compactly: the HTTP response body.
  std::string to_body() const;
};

// A T or an ApiError. Test with ok(); read value() or error().
template <typename T>
class [[nodiscard]] ApiResult {
 public:
  ApiResult(T value) : state_(std::move(value)) {}         // NOLINT: implicit by design
  ApiResult(ApiError error) : state_(std::move(error)) {}  // NOLINT: implicit by design

  bool ok() const { return std::holds_alternative<T>(state_); }
  explicit operator bool() const { return ok(); }

  T& value() & { return std::get<T>(state_); }
  const T& value() const& { return std::get<T>(state_); }
  T&& value() && { return std::get<T>(std::move(state_)); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }

  const ApiError& error() const { return std::get<ApiError>(state_); }

 private:
  std::variant<T, ApiError> state_;
};

// Serialises JSON for the wire. Never throws on strings that are not valid UTF-8 (token
// pieces can end inside a multi-byte character): bad bytes become U+FFFD.
std::string dump_json(const nlohmann::ordered_json& value);

}  // namespace shardserve::api
