// Server-Sent Events framing for streamed responses (text/event-stream), as OpenAI sends it.
//
//   sse_data(chunk)   "data: {...}\n\n"        one JSON chunk (compact, on one line)
//   sse_done()        "data: [DONE]\n\n"        the end of a successful stream
//   sse_comment(text) ": text\n\n"              keep-alive; clients ignore it
//   sse_error(error)  "data: {\"error\": {...}}\n\n"  a failure after the stream started (the
//                     HTTP status is already 200): send it, then close the stream without
//                     [DONE], as OpenAI does.
//
// Pure functions: thread-safe, no I/O. JSON is serialised with dump_json (invalid UTF-8 in
// token text becomes U+FFFD, never an exception).
#pragma once

#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "api/openai_error.h"

namespace shardserve::api {

std::string sse_data(const nlohmann::ordered_json& chunk);
std::string sse_done();
// Line breaks in `text` are replaced by spaces so the comment stays one line.
std::string sse_comment(std::string_view text);
std::string sse_error(const ApiError& error);

}  // namespace shardserve::api
