#include "api/openai_error.h"

namespace shardserve::api {

namespace {

ApiError make(int status, std::string message, std::string type, std::string param = {},
              std::string code = {}) {
  return ApiError{status,           std::move(message), std::move(type),
                  std::move(param), std::move(code),    0};
}

nlohmann::ordered_json string_or_null(const std::string& s) {
  return s.empty() ? nlohmann::ordered_json(nullptr) : nlohmann::ordered_json(s);
}

}  // namespace

ApiError ApiError::bad_request(std::string message, std::string param, std::string code) {
  return make(400, std::move(message), "invalid_request_error", std::move(param), std::move(code));
}

ApiError ApiError::unauthorized(std::string message) {
  if (message.empty()) {
    message = "Incorrect or missing API key. Send it as 'Authorization: Bearer <key>'.";
  }
  return make(401, std::move(message), "authentication_error", {}, "invalid_api_key");
}

ApiError ApiError::not_found(std::string message, std::string param) {
  return make(404, std::move(message), "not_found_error", std::move(param));
}

ApiError ApiError::model_not_found(std::string_view model) {
  return make(
      404, "The model `" + std::string(model) + "` does not exist or you do not have access to it.",
      "invalid_request_error", "model", "model_not_found");
}

ApiError ApiError::method_not_allowed(std::string_view method, std::string_view path) {
  return make(405,
              "Method " + std::string(method) + " is not allowed for " + std::string(path) + ".",
              "invalid_request_error", {}, "method_not_allowed");
}

ApiError ApiError::payload_too_large(size_t limit_bytes) {
  return make(
      413, "The request body is too large: the limit is " + std::to_string(limit_bytes) + " bytes.",
      "invalid_request_error", {}, "payload_too_large");
}

ApiError ApiError::rate_limited(std::string message) {
  if (message.empty()) message = "Too many requests are waiting. Please retry after a short wait.";
  return make(429, std::move(message), "rate_limit_error", {}, "rate_limit_exceeded");
}

ApiError ApiError::server_error(std::string message) {
  if (message.empty()) message = "The server had an error while processing your request.";
  return make(500, std::move(message), "server_error");
}

ApiError ApiError::unavailable(std::string message) {
  if (message.empty()) message = "No worker is available to serve this model right now.";
  return make(503, std::move(message), "server_error", {}, "service_unavailable");
}

ApiError ApiError::from(ErrorCode code, std::string message, std::string param) {
  switch (code) {
    case ErrorCode::kInvalidInput:
      return bad_request(std::move(message), std::move(param));
    case ErrorCode::kUnavailable:
      return unavailable(std::move(message));
    case ErrorCode::kInternal:
      break;
  }
  return server_error(std::move(message));
}

nlohmann::ordered_json ApiError::to_json() const {
  nlohmann::ordered_json error;
  error["message"] = message;
  error["type"] = type;
  error["param"] = string_or_null(param);
  error["code"] = string_or_null(code);
  nlohmann::ordered_json body;
  body["error"] = std::move(error);
  return body;
}

std::string ApiError::to_body() const {
  return dump_json(to_json());
}

std::string dump_json(const nlohmann::ordered_json& value) {
  return value.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
}

}  // namespace shardserve::api
