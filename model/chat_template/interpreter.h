// Renders a parsed template (ast.h) against a context of variables. Variables resolve innermost
// scope first: for-loop bodies and macros open scopes (so `set` inside a loop does not leak, as
// in Jinja; use namespace() for that), then the template's top level, the context and the
// globals (builtins.h). Every run is bounded by RenderLimits, so a template that would loop or
// recurse forever, or print without end, fails with an Error instead.
#pragma once

#include <cstdint>
#include <string>

#include "base/status.h"
#include "model/chat_template/ast.h"

namespace shardserve::chat_template {

struct RenderLimits {
  int64_t max_steps = 1'000'000;        // statements run + loop iterations + calls
  size_t max_output_bytes = 64u << 20;  // rendered text
  int max_call_depth = 100;             // nested macro calls
};

// context must be a dict (its keys become variables). Errors carry "line:col: message".
Result<std::string> render_template(const Template& tmpl, const Value& context,
                                    const RenderLimits& limits);

}  // namespace shardserve::chat_template
