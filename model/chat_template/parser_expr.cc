// Expression half of the parser: Jinja2's operator precedence, from conditional expressions
// down to literals, subscripts, calls, filters and tests.
#include <charconv>
#include <cstdlib>

#include "model/chat_template/builtins.h"
#include "model/chat_template/parser_internal.h"

namespace shardserve::chat_template::parser_internal {

// A comma-separated tuple or a single expression (Jinja's parse_tuple).
ExprPtr Parser::parse_tuple(bool with_condexpr, bool explicit_parens) {
  const Pos pos = cur().pos;
  std::vector<ExprPtr> items;
  bool saw_comma = false;
  while (true) {
    if (!items.empty()) {
      if (!skip_op(",")) break;
      saw_comma = true;
    }
    if (tuple_ends()) {
      if (items.empty() && !explicit_parens) fail("expected an expression, got " + describe(cur()));
      break;
    }
    items.push_back(parse_expression(with_condexpr));
  }
  if (!saw_comma && items.size() == 1) return std::move(items[0]);
  auto e = make(Expr::Kind::kList, pos);
  e->is_tuple = true;
  e->children = std::move(items);
  return bounded(std::move(e));
}

bool Parser::tuple_ends() const {
  const Token& t = cur();
  return t.type == T::kVarEnd || t.type == T::kBlockEnd || t.type == T::kEof ||
         (t.type == T::kOp && (t.text == ")" || t.text == "]" || t.text == "}" || t.text == "=")) ||
         (t.type == T::kName && t.text == "in");
}

ExprPtr Parser::parse_expression(bool with_condexpr) {
  DepthGuard guard(this);
  if (!with_condexpr) return parse_or();
  ExprPtr e = parse_or();
  while (is_name("if")) {
    const Pos pos = cur().pos;
    advance();
    auto c = make(Expr::Kind::kCondExpr, pos);
    c->children.push_back(parse_or());
    c->children.push_back(std::move(e));
    c->children.push_back(skip_name("else") ? parse_expression(true) : nullptr);
    e = bounded(std::move(c));
  }
  return e;
}

ExprPtr Parser::binary(Expr::Kind kind, std::string op, ExprPtr a, ExprPtr b, Pos pos) {
  auto e = make(kind, pos);
  e->name = std::move(op);
  e->children.push_back(std::move(a));
  e->children.push_back(std::move(b));
  return bounded(std::move(e));
}

ExprPtr Parser::parse_or() {
  ExprPtr e = parse_and();
  while (is_name("or")) {
    const Pos pos = cur().pos;
    advance();
    e = binary(Expr::Kind::kOr, "or", std::move(e), parse_and(), pos);
  }
  return e;
}

ExprPtr Parser::parse_and() {
  ExprPtr e = parse_not();
  while (is_name("and")) {
    const Pos pos = cur().pos;
    advance();
    e = binary(Expr::Kind::kAnd, "and", std::move(e), parse_not(), pos);
  }
  return e;
}

ExprPtr Parser::parse_not() {
  if (is_name("not")) {
    DepthGuard guard(this);
    auto e = make(Expr::Kind::kUnary, cur().pos);
    advance();
    e->name = "not";
    e->children.push_back(parse_not());
    return bounded(std::move(e));
  }
  return parse_compare();
}

ExprPtr Parser::parse_compare() {
  const Pos pos = cur().pos;
  ExprPtr first = parse_math1();
  ExprPtr cmp;
  while (true) {
    std::string op;
    if (cur().type == T::kOp && (cur().text == "==" || cur().text == "!=" || cur().text == "<" ||
                                 cur().text == "<=" || cur().text == ">" || cur().text == ">=")) {
      op = cur().text;
      advance();
    } else if (is_name("in")) {
      op = "in";
      advance();
    } else if (is_name("not") && peek().type == T::kName && peek().text == "in") {
      op = "not in";
      advance();
      advance();
    } else {
      break;
    }
    if (!cmp) {
      cmp = make(Expr::Kind::kCompare, pos);
      cmp->children.push_back(std::move(first));
    }
    cmp->ops.push_back(op);
    cmp->children.push_back(parse_math1());
  }
  return cmp ? bounded(std::move(cmp)) : std::move(first);
}

ExprPtr Parser::parse_math1() {
  ExprPtr e = parse_concat();
  while (is_op("+") || is_op("-")) {
    const Token op = cur();
    advance();
    e = binary(Expr::Kind::kBinary, op.text, std::move(e), parse_concat(), op.pos);
  }
  return e;
}

ExprPtr Parser::parse_concat() {
  ExprPtr e = parse_math2();
  while (is_op("~")) {
    const Pos pos = cur().pos;
    advance();
    e = binary(Expr::Kind::kBinary, "~", std::move(e), parse_math2(), pos);
  }
  return e;
}

ExprPtr Parser::parse_math2() {
  ExprPtr e = parse_pow();
  while (is_op("*") || is_op("/") || is_op("//") || is_op("%")) {
    const Token op = cur();
    advance();
    e = binary(Expr::Kind::kBinary, op.text, std::move(e), parse_pow(), op.pos);
  }
  return e;
}

ExprPtr Parser::parse_pow() {
  ExprPtr e = parse_unary(true);
  while (is_op("**")) {
    const Pos pos = cur().pos;
    advance();
    e = binary(Expr::Kind::kBinary, "**", std::move(e), parse_unary(true), pos);
  }
  return e;
}

ExprPtr Parser::parse_unary(bool with_filter) {
  DepthGuard guard(this);
  ExprPtr e;
  if (is_op("-") || is_op("+")) {
    e = make(Expr::Kind::kUnary, cur().pos);
    e->name = cur().text;
    advance();
    e->children.push_back(parse_unary(false));
    e = bounded(std::move(e));
  } else {
    e = parse_primary();
  }
  e = parse_postfix(std::move(e));
  if (with_filter) e = parse_filter_expr(std::move(e));
  return e;
}

ExprPtr Parser::parse_primary() {
  const Token t = cur();
  if (t.type == T::kName) {
    advance();
    if (t.text == "true" || t.text == "True") return literal(Value(true), t.pos);
    if (t.text == "false" || t.text == "False") return literal(Value(false), t.pos);
    if (t.text == "none" || t.text == "None") return literal(Value::none(), t.pos);
    auto e = make(Expr::Kind::kName, t.pos);
    e->name = t.text;
    return e;
  }
  if (t.type == T::kString) {
    std::string s;
    while (cur().type == T::kString) {  // adjacent literals concatenate
      s += cur().text;
      advance();
    }
    return literal(Value(std::move(s)), t.pos);
  }
  if (t.type == T::kInt) {
    advance();
    int64_t v = 0;
    auto res = std::from_chars(t.text.data(), t.text.data() + t.text.size(), v);
    if (res.ec != std::errc()) throw ParseError{t.pos, "integer literal out of range"};
    return literal(Value(v), t.pos);
  }
  if (t.type == T::kFloat) {
    advance();
    return literal(Value(std::strtod(t.text.c_str(), nullptr)), t.pos);
  }
  if (skip_op("(")) {
    ExprPtr e = parse_tuple(true, true);
    expect_op(")");
    return e;
  }
  if (skip_op("[")) {
    auto e = make(Expr::Kind::kList, t.pos);
    while (!is_op("]")) {
      if (!e->children.empty()) expect_op(",");
      if (is_op("]")) break;
      e->children.push_back(parse_expression(true));
    }
    expect_op("]");
    return bounded(std::move(e));
  }
  if (skip_op("{")) {
    auto e = make(Expr::Kind::kDict, t.pos);
    while (!is_op("}")) {
      if (!e->children.empty()) expect_op(",");
      if (is_op("}")) break;
      e->children.push_back(parse_expression(true));
      expect_op(":");
      e->children.push_back(parse_expression(true));
    }
    expect_op("}");
    return bounded(std::move(e));
  }
  fail("unexpected " + describe(t));
}

ExprPtr Parser::literal(Value v, Pos pos) {
  auto e = make(Expr::Kind::kLiteral, pos);
  e->literal = std::move(v);
  return e;
}

ExprPtr Parser::parse_postfix(ExprPtr e) {
  while (true) {
    if (is_op(".") || is_op("[")) {
      e = bounded(parse_subscript(std::move(e)));
    } else if (is_op("(")) {
      e = bounded(parse_call(std::move(e)));
    } else {
      return e;
    }
  }
}

ExprPtr Parser::parse_filter_expr(ExprPtr e) {
  while (true) {
    if (is_op("|")) {
      e = bounded(parse_filter(std::move(e)));
    } else if (is_name("is")) {
      e = bounded(parse_test(std::move(e)));
    } else if (is_op("(")) {
      e = bounded(parse_call(std::move(e)));
    } else {
      return e;
    }
  }
}

ExprPtr Parser::parse_subscript(ExprPtr obj) {
  const Token t = cur();
  advance();
  if (t.text == ".") {
    if (cur().type == T::kName) {
      auto e = make(Expr::Kind::kGetAttr, cur().pos);
      e->name = cur().text;
      advance();
      e->children.push_back(std::move(obj));
      return e;
    }
    if (cur().type == T::kInt) {
      auto e = make(Expr::Kind::kGetItem, cur().pos);
      e->children.push_back(std::move(obj));
      e->children.push_back(parse_primary());
      return e;
    }
    fail("expected an attribute name after '.', got " + describe(cur()));
  }
  // '[' subscript or slice
  ExprPtr parts[3];
  int colons = 0;
  while (!is_op("]")) {
    if (skip_op(":")) {
      if (++colons > 2) fail("too many ':' in slice");
      continue;
    }
    if (parts[colons]) fail("expected ':' or ']', got " + describe(cur()));
    parts[colons] = parse_expression(true);
  }
  expect_op("]");
  if (colons == 0) {
    if (!parts[0]) fail("empty subscript");
    auto e = make(Expr::Kind::kGetItem, t.pos);
    e->children.push_back(std::move(obj));
    e->children.push_back(std::move(parts[0]));
    return e;
  }
  auto e = make(Expr::Kind::kSlice, t.pos);
  e->children.push_back(std::move(obj));
  for (auto& p : parts) e->children.push_back(std::move(p));
  return e;
}

void Parser::parse_call_args(Expr* e) {
  expect_op("(");
  bool first = true;
  while (!is_op(")")) {
    if (!first) expect_op(",");
    first = false;
    if (is_op(")")) break;
    if (is_op("*") || is_op("**")) fail("unsupported construct: *args/**kwargs in calls");
    if (cur().type == T::kName && peek().type == T::kOp && peek().text == "=") {
      std::string key = cur().text;
      advance();
      advance();
      e->kwargs.emplace_back(std::move(key), parse_expression(true));
    } else {
      if (!e->kwargs.empty()) fail("positional argument after keyword argument");
      e->children.push_back(parse_expression(true));
    }
  }
  expect_op(")");
}

ExprPtr Parser::parse_call(ExprPtr callee) {
  auto e = make(Expr::Kind::kCall, cur().pos);
  e->children.push_back(std::move(callee));
  parse_call_args(e.get());
  return e;
}

ExprPtr Parser::parse_filter(ExprPtr obj) {
  advance();  // '|'
  auto e = make(Expr::Kind::kFilter, cur().pos);
  e->name = expect_name();  // an unknown name is checked after parsing (check_names)
  e->children.push_back(std::move(obj));
  if (is_op("(")) parse_call_args(e.get());
  return e;
}

ExprPtr Parser::parse_test(ExprPtr obj) {
  advance();  // 'is'
  auto e = make(Expr::Kind::kTest, cur().pos);
  e->negated = skip_name("not");
  e->pos = cur().pos;
  e->name = expect_name();  // an unknown name is checked after parsing (check_names)
  e->children.push_back(std::move(obj));
  const Token& t = cur();
  if (is_op("(")) {
    parse_call_args(e.get());
  } else if ((t.type == T::kName || t.type == T::kString || t.type == T::kInt ||
              t.type == T::kFloat || is_op("[") || is_op("{")) &&
             !(is_name("else") || is_name("or") || is_name("and"))) {
    if (is_name("is")) fail("you cannot chain multiple tests with 'is'");
    e->children.push_back(parse_postfix(parse_primary()));
  }
  return e;
}

}  // namespace shardserve::chat_template::parser_internal
