// Syntax tree of a parsed chat template. Built by parser.cc, walked by interpreter.cc;
// immutable after parsing, so one tree may be rendered from many threads at once.
#pragma once

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "model/chat_template/lexer.h"
#include "model/chat_template/value.h"

namespace shardserve::chat_template {

struct Expr;
using ExprPtr = std::unique_ptr<Expr>;

struct Expr {
  enum class Kind {
    kLiteral,   // literal
    kName,      // name
    kList,      // children = items (tuple when is_tuple)
    kDict,      // children = key, value, key, value, ...
    kGetAttr,   // children[0].name
    kGetItem,   // children[0][children[1]]
    kSlice,     // children[0][c1:c2:c3]; absent parts are nullptr
    kCall,      // children[0](children[1..], kwargs)
    kFilter,    // children[0] | name(children[1..], kwargs)
    kTest,      // children[0] is [not] name(children[1..], kwargs); negated
    kUnary,     // name in {"-", "+", "not"}; children[0]
    kBinary,    // name in {"+","-","*","/","//","%","**","~","in","not in"}; children[0], [1]
    kCompare,   // children[0] ops[0] children[1] ops[1] children[2] ... (chained)
    kAnd,       // children[0] and children[1]
    kOr,        // children[0] or children[1]
    kCondExpr,  // children[1] if children[0] else children[2] (children[2] may be nullptr)
  };
  Kind kind;
  Pos pos;
  Value literal;
  std::string name;
  bool is_tuple = false;
  bool negated = false;
  int depth = 1;  // height of this subtree (bounded by the parser)
  std::vector<ExprPtr> children;
  std::vector<std::pair<std::string, ExprPtr>> kwargs;
  std::vector<std::string> ops;
};

struct Node;
using NodePtr = std::unique_ptr<Node>;
using Body = std::vector<NodePtr>;

struct Node {
  enum class Kind {
    kText,    // text
    kOutput,  // {{ expr }}
    kIf,      // branches: (cond, body)...; else_body
    kFor,     // for targets in expr [if filter]: body [else: else_body]
    kSet,     // set targets = expr, or set ns_name.attr = expr, or {% set x %}body{% endset %}
    kMacro,   // macro name(params) body
    kBreak,
    kContinue,
    kBlock,        // a body run in place ({% generation %} and similar pass-through blocks)
    kWith,         // with params (name = expr)...: body in a new scope
    kFilterBlock,  // filter expr (a kFilter whose input, children[0], is nullptr): body
  };
  Kind kind;
  Pos pos;
  std::string text;
  ExprPtr expr;    // output / for iterable / set value
  ExprPtr filter;  // for ... if filter
  std::vector<std::pair<ExprPtr, Body>> branches;
  Body body;
  Body else_body;
  std::vector<std::string> targets;  // for / set names (tuple unpacking when more than one)
  std::string attr;                  // set ns.attr: targets[0] = "ns", attr = "attr"
  bool recursive = false;
  // macro (params with optional defaults) / with (params are the assignments)
  std::string name;
  std::vector<std::pair<std::string, ExprPtr>> params;  // default may be nullptr
  // macro: its body reads `varargs` / `kwargs`, so extra arguments land there (as in Jinja)
  // instead of being an error.
  bool catch_varargs = false;
  bool catch_kwargs = false;
};

struct Template {
  Body body;
};

}  // namespace shardserve::chat_template
