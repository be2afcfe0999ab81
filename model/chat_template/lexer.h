// Lexer for Jinja2 chat templates, with the whitespace rules of HF transformers' environment:
// trim_blocks=True (the first newline after a block or comment tag is dropped), lstrip_blocks=True
// (spaces and tabs before a block or comment tag at the start of a line are dropped),
// keep_trailing_newline=False, and the manual controls `{%-`, `-%}`, `{%+`, `+%}`, `{{-`, `-}}`.
// `{% raw %}...{% endraw %}` becomes plain text; comments disappear.
//
// tokenize() never throws; a malformed template (unterminated tag, string or comment, unbalanced
// brackets, a character no token starts with) is an Error naming line:column.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"

namespace shardserve::chat_template {

struct Pos {
  int line = 1;
  int col = 1;
};
std::string format_pos(Pos pos);  // "line:col"

struct Token {
  enum class Type {
    kText,        // template data between tags (already whitespace-controlled)
    kVarBegin,    // {{
    kVarEnd,      // }}
    kBlockBegin,  // {%
    kBlockEnd,    // %}
    kName,        // identifier or keyword
    kString,      // string literal, text holds the unescaped value
    kInt,         // text holds digits (underscores removed)
    kFloat,       // text holds the literal (underscores removed)
    kOp,          // operator or punctuation
    kEof,
  };
  Type type;
  std::string text;
  Pos pos;
};

Result<std::vector<Token>> tokenize(std::string_view source);

}  // namespace shardserve::chat_template
