// Parser: template source -> syntax tree (ast.h), following Jinja2's grammar and operator
// precedence. Statements: if/elif/else, for (tuple targets, `if` filter, else), set (names,
// tuples, `ns.attr`, block set), macro, break/continue, raw, generation (a pass-through block).
// Anything else (extends, include, import, call, filter blocks, ...) is an Error naming the
// construct and its line:column. Expression and block nesting are bounded (kMaxNesting), so a
// hostile template cannot overflow the stack.
#pragma once

#include <memory>
#include <string_view>

#include "base/status.h"
#include "model/chat_template/ast.h"

namespace shardserve::chat_template {

inline constexpr int kMaxNesting = 200;

Result<std::shared_ptr<const Template>> parse_template(std::string_view source);

}  // namespace shardserve::chat_template
