// Base64 encoding (RFC 4648 §4: standard alphabet A-Z a-z 0-9 + /, '=' padding, no line
// breaks), for binary payloads in JSON bodies such as embeddings with encoding_format "base64".
// nlohmann_json (our JSON library) has no encoder of its own.
//
// Pure function: thread-safe, no I/O, never fails.
#pragma once

#include <cstdint>
#include <span>
#include <string>

namespace shardserve::api {

// The base64 text of `bytes`: 4 characters per 3 bytes, the last group padded with '=' to 4
// ("" for no bytes).
std::string base64_encode(std::span<const uint8_t> bytes);

}  // namespace shardserve::api
