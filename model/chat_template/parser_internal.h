// Internal to the parser (parser.cc: statements, parser_expr.cc: expressions): a recursive
// descent parser over the lexer's tokens, following jinja2/parser.py. Errors are thrown as
// ParseError and turned into an Error by parse_template().
#pragma once

#include <algorithm>
#include <initializer_list>
#include <memory>
#include <string>
#include <vector>

#include "model/chat_template/ast.h"
#include "model/chat_template/lexer.h"
#include "model/chat_template/parser.h"

namespace shardserve::chat_template::parser_internal {

struct ParseError {
  Pos pos;
  std::string message;
};

using T = Token::Type;

// Throws ParseError for a filter or test name that Jinja2 would reject when compiling `body`.
void check_filter_and_test_names(const Body& body);

class Parser {
 public:
  explicit Parser(std::vector<Token> tokens) : toks_(std::move(tokens)) {}

  std::shared_ptr<const Template> parse() {
    auto tmpl = std::make_shared<Template>();
    std::string stopped_at;
    tmpl->body = parse_body({}, &stopped_at);
    check_filter_and_test_names(tmpl->body);
    return tmpl;
  }

 private:
  // ---- token helpers ----
  const Token& cur() const { return toks_[i_]; }
  const Token& peek(size_t k = 1) const { return toks_[std::min(i_ + k, toks_.size() - 1)]; }
  void advance() {
    if (i_ + 1 < toks_.size()) ++i_;
  }
  bool is_op(const char* op) const { return cur().type == T::kOp && cur().text == op; }
  bool is_name(const char* name) const { return cur().type == T::kName && cur().text == name; }
  bool skip_op(const char* op) {
    if (!is_op(op)) return false;
    advance();
    return true;
  }
  bool skip_name(const char* name) {
    if (!is_name(name)) return false;
    advance();
    return true;
  }
  [[noreturn]] void fail(const std::string& message) const { throw ParseError{cur().pos, message}; }
  static std::string describe(const Token& t) {
    switch (t.type) {
      case T::kEof:
        return "end of template";
      case T::kText:
        return "template text";
      case T::kBlockEnd:
        return "'%}'";
      case T::kVarEnd:
        return "'}}'";
      case T::kString:
        return "string literal";
      default:
        return "'" + t.text + "'";
    }
  }
  void expect_op(const char* op) {
    if (!skip_op(op)) fail(std::string("expected '") + op + "', got " + describe(cur()));
  }
  std::string expect_name() {
    if (cur().type != T::kName) fail("expected a name, got " + describe(cur()));
    std::string name = cur().text;
    advance();
    return name;
  }
  void expect_block_end() {
    if (cur().type != T::kBlockEnd) fail("expected end of statement '%}', got " + describe(cur()));
    advance();
  }

  struct DepthGuard {
    explicit DepthGuard(Parser* p) : p_(p) {
      if (++p_->depth_ > kMaxNesting) p_->fail("template nesting too deep");
    }
    ~DepthGuard() { --p_->depth_; }
    Parser* p_;
  };

  // Records the height of `e` and rejects trees too tall to evaluate (or destroy) recursively:
  // left-associative chains like `1 + 1 + ... + 1` or `x|trim|trim|...` grow without recursion
  // in the parser.
  ExprPtr bounded(ExprPtr e) {
    for (const ExprPtr& c : e->children) {
      if (c) e->depth = std::max(e->depth, c->depth + 1);
    }
    for (const auto& kv : e->kwargs) e->depth = std::max(e->depth, kv.second->depth + 1);
    if (e->depth > kMaxNesting) throw ParseError{e->pos, "template nesting too deep"};
    return e;
  }

  static ExprPtr make(Expr::Kind kind, Pos pos) {
    auto e = std::make_unique<Expr>();
    e->kind = kind;
    e->pos = pos;
    return e;
  }

  // ---- statements (parser.cc) ----
  // Parses nodes until a block tag whose name is in `end_names` (left unconsumed, name stored
  // in *stopped_at) or the end of the template (an error when end_names is not empty).
  Body parse_body(std::initializer_list<const char*> end_names, std::string* stopped_at);
  NodePtr parse_statement();
  std::vector<std::string> parse_targets();

  // ---- expressions (parser_expr.cc) ----
  // A comma-separated tuple or a single expression (Jinja's parse_tuple).
  ExprPtr parse_tuple(bool with_condexpr, bool explicit_parens);
  bool tuple_ends() const;
  ExprPtr parse_expression(bool with_condexpr);
  ExprPtr binary(Expr::Kind kind, std::string op, ExprPtr a, ExprPtr b, Pos pos);
  ExprPtr parse_or();
  ExprPtr parse_and();
  ExprPtr parse_not();
  ExprPtr parse_compare();
  ExprPtr parse_math1();
  ExprPtr parse_concat();
  ExprPtr parse_math2();
  ExprPtr parse_pow();
  ExprPtr parse_unary(bool with_filter);
  ExprPtr parse_primary();
  static ExprPtr literal(Value v, Pos pos);
  ExprPtr parse_postfix(ExprPtr e);
  ExprPtr parse_filter_expr(ExprPtr e);
  ExprPtr parse_subscript(ExprPtr obj);
  void parse_call_args(Expr* e);
  ExprPtr parse_call(ExprPtr callee);
  ExprPtr parse_filter(ExprPtr obj);
  ExprPtr parse_test(ExprPtr obj);

  std::vector<Token> toks_;
  size_t i_ = 0;
  int depth_ = 0;
  int loop_depth_ = 0;
};

}  // namespace shardserve::chat_template::parser_internal
