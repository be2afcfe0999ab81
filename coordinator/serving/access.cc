#include "coordinator/serving/access.h"

#include <string>

#include "coordinator/knowledge/knowledge_base.h"

namespace shardserve {

Headers cors_headers(const ServerConfig& config, std::string_view origin) {
  if (origin.empty()) return {};
  for (const std::string& o : config.cors_allow_origins)
    if (o == "*" || o == origin)
      return {{"Access-Control-Allow-Origin", std::string(origin)}, {"Vary", "Origin"}};
  return {};
}

Headers cors_preflight_headers() {
  return {{"Access-Control-Allow-Methods", "GET, POST, DELETE, OPTIONS"},
          {"Access-Control-Allow-Headers", "Authorization, Content-Type"},
          {"Access-Control-Max-Age", "600"}};
}

std::optional<api::ApiError> check_api_key(const ServerConfig& config, std::string_view path,
                                           std::string_view authorization) {
  const bool guarded = path.starts_with("/v1/") || path == "/tokenize" || path == "/detokenize";
  if (!guarded || config.api_keys.empty()) return std::nullopt;
  constexpr std::string_view kPrefix = "Bearer ";
  if (authorization.starts_with(kPrefix))
    for (const std::string& key : config.api_keys)
      if (authorization.substr(kPrefix.size()) == key) return std::nullopt;
  return api::ApiError::unauthorized(authorization.empty()
                                         ? "You didn't provide an API key. Send it as "
                                           "'Authorization: Bearer YOUR_KEY'."
                                         : "Incorrect API key provided.");
}

std::string owner_of_request(const ServerConfig& config, std::string_view authorization) {
  constexpr std::string_view kPrefix = "Bearer ";
  if (config.api_keys.empty() || !authorization.starts_with(kPrefix)) return "";
  return knowledge::owner_of_api_key(authorization.substr(kPrefix.size()));
}

}  // namespace shardserve
