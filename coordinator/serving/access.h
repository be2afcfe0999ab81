// Who may call the coordinator, decided before routing: CORS (server.cors_allow_origins) and
// API keys (server.api_keys).
//
// CORS: a request whose Origin is allowed ("*" allows any) gets it echoed back with
// "Vary: Origin"; a preflight (OPTIONS on any path) is answered 204 with the methods and
// headers the API accepts. API keys, when any are configured, guard the /v1/ paths and
// /tokenize, /detokenize: /health, /ready, /metrics and the chat page stay public. A bad or missing
// "Authorization: Bearer KEY" is a 401 that says which of the two it was.
//
// Pure functions of the config: thread-safe.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "api/openai_error.h"
#include "config/cluster_config.h"
#include "coordinator/serving/endpoint.h"

namespace shardserve {

// The CORS headers for a request from `origin` (its Origin header; empty when none).
Headers cors_headers(const ServerConfig& config, std::string_view origin);

// The headers of the 204 that answers a CORS preflight.
Headers cors_preflight_headers();

// The 401 for a request for `path` with this Authorization header, or nullopt if it may pass.
std::optional<api::ApiError> check_api_key(const ServerConfig& config, std::string_view path,
                                           std::string_view authorization);

// Whose files and vector stores a request may see (coordinator/knowledge): the SHA-256 of its
// API key when keys are configured (the request passed check_api_key), else "" (one owner).
std::string owner_of_request(const ServerConfig& config, std::string_view authorization);

}  // namespace shardserve
