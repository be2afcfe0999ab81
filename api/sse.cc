#include "api/sse.h"

namespace shardserve::api {

std::string sse_data(const nlohmann::ordered_json& chunk) {
  // dump() escapes control characters, so the payload never contains a raw line break.
  return "data: " + dump_json(chunk) + "\n\n";
}

std::string sse_done() {
  return "data: [DONE]\n\n";
}

std::string sse_comment(std::string_view text) {
  std::string line = ": ";
  for (char c : text) line += (c == '\n' || c == '\r') ? ' ' : c;
  line += "\n\n";
  return line;
}

std::string sse_error(const ApiError& error) {
  return sse_data(error.to_json());
}

}  // namespace shardserve::api
