// The interpreter's internal error: thrown while rendering, caught at the public API and turned
// into an Error (base/status.h). Builtins throw it without a position (line 0); the interpreter
// fills in the position of the expression that called them.
#pragma once

#include <string>
#include <utility>

#include "model/chat_template/lexer.h"

namespace shardserve::chat_template {

struct TemplateError {
  Pos pos{0, 0};
  std::string message;
};

[[noreturn]] inline void throw_error(std::string message) {
  throw TemplateError{Pos{0, 0}, std::move(message)};
}

}  // namespace shardserve::chat_template
