// Response ids: "chatcmpl-" / "cmpl-" followed by 24 random letters and digits, as OpenAI's;
// tool call ids: "call_" and 24 random letters and digits.
//
// Thread-safe: each thread draws from its own generator, seeded from std::random_device and a
// process-wide counter, so ids from concurrent threads do not collide. Not cryptographic:
// ids name responses, they are not secrets.
#pragma once

#include <string>
#include <string_view>

namespace shardserve::api {

inline constexpr int kRequestIdRandomChars = 24;

// `prefix` followed by kRequestIdRandomChars characters from [A-Za-z0-9].
std::string make_request_id(std::string_view prefix);
inline std::string new_chat_completion_id() {
  return make_request_id("chatcmpl-");
}
inline std::string new_completion_id() {
  return make_request_id("cmpl-");
}
// The id of a tool call in a response (ToolCall::id), unique across requests.
inline std::string new_tool_call_id() {
  return make_request_id("call_");
}

}  // namespace shardserve::api
