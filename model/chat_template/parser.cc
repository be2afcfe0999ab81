#include "model/chat_template/parser.h"

#include <algorithm>
#include <charconv>
#include <cstdlib>
#include <initializer_list>
#include <stdexcept>

#include "model/chat_template/builtins.h"

namespace shardserve::chat_template {
namespace {

struct ParseError {
  Pos pos;
  std::string message;
};

using T = Token::Type;

class Parser {
 public:
  explicit Parser(std::vector<Token> tokens) : toks_(std::move(tokens)) {}

  std::shared_ptr<const Template> parse() {
    auto tmpl = std::make_shared<Template>();
    std::string stopped_at;
    tmpl->body = parse_body({}, &stopped_at);
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

  // ---- statements ----
  // Parses nodes until a block tag whose name is in `end_names` (left unconsumed, name stored
  // in *stopped_at) or the end of the template (an error when end_names is not empty).
  Body parse_body(std::initializer_list<const char*> end_names, std::string* stopped_at) {
    DepthGuard guard(this);
    Body body;
    while (true) {
      const Token& t = cur();
      if (t.type == T::kEof) {
        if (end_names.size() > 0) {
          std::string names;
          for (const char* n : end_names)
            names += std::string(names.empty() ? "" : " or ") + "'" + n + "'";
          fail("unexpected end of template, expected " + names);
        }
        return body;
      }
      if (t.type == T::kText) {
        auto n = std::make_unique<Node>();
        n->kind = Node::Kind::kText;
        n->pos = t.pos;
        n->text = t.text;
        body.push_back(std::move(n));
        advance();
      } else if (t.type == T::kVarBegin) {
        advance();
        auto n = std::make_unique<Node>();
        n->kind = Node::Kind::kOutput;
        n->pos = cur().pos;
        n->expr = parse_tuple(true, false);
        if (cur().type != T::kVarEnd)
          fail("expected end of expression '}}', got " + describe(cur()));
        advance();
        body.push_back(std::move(n));
      } else if (t.type == T::kBlockBegin) {
        advance();
        if (cur().type != T::kName) fail("expected a statement name, got " + describe(cur()));
        for (const char* n : end_names) {
          if (cur().text == n) {
            *stopped_at = n;
            return body;
          }
        }
        body.push_back(parse_statement());
      } else {
        fail("unexpected " + describe(t));
      }
    }
  }

  NodePtr parse_statement() {
    const Token tok = cur();
    auto n = std::make_unique<Node>();
    n->pos = tok.pos;
    const std::string& s = tok.text;
    advance();
    std::string stop;
    if (s == "if") {
      n->kind = Node::Kind::kIf;
      ExprPtr cond = parse_tuple(true, false);
      expect_block_end();
      while (true) {
        Body b = parse_body({"elif", "else", "endif"}, &stop);
        n->branches.emplace_back(std::move(cond), std::move(b));
        advance();  // the name
        if (stop == "elif") {
          cond = parse_tuple(true, false);
          expect_block_end();
          continue;
        }
        expect_block_end();
        if (stop == "else") {
          n->else_body = parse_body({"endif"}, &stop);
          advance();
          expect_block_end();
        }
        break;
      }
    } else if (s == "for") {
      n->kind = Node::Kind::kFor;
      n->targets = parse_targets();
      if (!skip_name("in")) fail("expected 'in' in for loop, got " + describe(cur()));
      n->expr = parse_tuple(false, false);
      if (skip_name("if")) n->filter = parse_expression(true);
      if (is_name("recursive")) fail("unsupported construct: recursive for loops");
      expect_block_end();
      ++loop_depth_;
      n->body = parse_body({"endfor", "else"}, &stop);
      --loop_depth_;
      advance();
      expect_block_end();
      if (stop == "else") {
        n->else_body = parse_body({"endfor"}, &stop);
        advance();
        expect_block_end();
      }
    } else if (s == "set") {
      n->kind = Node::Kind::kSet;
      if (cur().type == T::kName && peek().type == T::kOp && peek().text == ".") {
        n->targets.push_back(expect_name());
        advance();
        n->attr = expect_name();
      } else {
        n->targets = parse_targets();
      }
      if (skip_op("=")) {
        n->expr = parse_tuple(true, false);
        expect_block_end();
      } else {
        if (n->targets.size() != 1 || !n->attr.empty()) fail("expected '=' in set statement");
        if (cur().type == T::kOp && cur().text == "|")
          fail("unsupported construct: filtered block set");
        expect_block_end();
        n->body = parse_body({"endset"}, &stop);
        advance();
        expect_block_end();
      }
    } else if (s == "macro") {
      n->kind = Node::Kind::kMacro;
      n->name = expect_name();
      expect_op("(");
      while (!skip_op(")")) {
        if (!n->params.empty()) expect_op(",");
        if (skip_op(")")) break;
        std::string param = expect_name();
        ExprPtr def;
        if (skip_op("=")) def = parse_expression(true);
        n->params.emplace_back(std::move(param), std::move(def));
      }
      expect_block_end();
      const int saved_loop_depth = loop_depth_;
      loop_depth_ = 0;
      n->body = parse_body({"endmacro"}, &stop);
      loop_depth_ = saved_loop_depth;
      advance();
      expect_block_end();
    } else if (s == "break" || s == "continue") {
      if (loop_depth_ == 0) throw ParseError{tok.pos, "'" + s + "' outside of a loop"};
      n->kind = s == "break" ? Node::Kind::kBreak : Node::Kind::kContinue;
      expect_block_end();
    } else if (s == "generation") {
      n->kind = Node::Kind::kBlock;
      expect_block_end();
      n->body = parse_body({"endgeneration"}, &stop);
      advance();
      expect_block_end();
    } else {
      throw ParseError{tok.pos, "unsupported construct: '" + s + "' statement"};
    }
    return n;
  }

  std::vector<std::string> parse_targets() {
    std::vector<std::string> names;
    const bool paren = skip_op("(");
    do {
      if (paren && is_op(")")) break;
      names.push_back(expect_name());
    } while (skip_op(","));
    if (paren) expect_op(")");
    return names;
  }

  // ---- expressions ----
  // A comma-separated tuple or a single expression (Jinja's parse_tuple).
  ExprPtr parse_tuple(bool with_condexpr, bool explicit_parens) {
    const Pos pos = cur().pos;
    std::vector<ExprPtr> items;
    bool saw_comma = false;
    while (true) {
      if (!items.empty()) {
        if (!skip_op(",")) break;
        saw_comma = true;
      }
      if (tuple_ends()) {
        if (items.empty() && !explicit_parens)
          fail("expected an expression, got " + describe(cur()));
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
  bool tuple_ends() const {
    const Token& t = cur();
    return t.type == T::kVarEnd || t.type == T::kBlockEnd || t.type == T::kEof ||
           (t.type == T::kOp &&
            (t.text == ")" || t.text == "]" || t.text == "}" || t.text == "=")) ||
           (t.type == T::kName && t.text == "in");
  }

  ExprPtr parse_expression(bool with_condexpr) {
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

  ExprPtr binary(Expr::Kind kind, std::string op, ExprPtr a, ExprPtr b, Pos pos) {
    auto e = make(kind, pos);
    e->name = std::move(op);
    e->children.push_back(std::move(a));
    e->children.push_back(std::move(b));
    return bounded(std::move(e));
  }

  ExprPtr parse_or() {
    ExprPtr e = parse_and();
    while (is_name("or")) {
      const Pos pos = cur().pos;
      advance();
      e = binary(Expr::Kind::kOr, "or", std::move(e), parse_and(), pos);
    }
    return e;
  }
  ExprPtr parse_and() {
    ExprPtr e = parse_not();
    while (is_name("and")) {
      const Pos pos = cur().pos;
      advance();
      e = binary(Expr::Kind::kAnd, "and", std::move(e), parse_not(), pos);
    }
    return e;
  }
  ExprPtr parse_not() {
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
  ExprPtr parse_compare() {
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
  ExprPtr parse_math1() {
    ExprPtr e = parse_concat();
    while (is_op("+") || is_op("-")) {
      const Token op = cur();
      advance();
      e = binary(Expr::Kind::kBinary, op.text, std::move(e), parse_concat(), op.pos);
    }
    return e;
  }
  ExprPtr parse_concat() {
    ExprPtr e = parse_math2();
    while (is_op("~")) {
      const Pos pos = cur().pos;
      advance();
      e = binary(Expr::Kind::kBinary, "~", std::move(e), parse_math2(), pos);
    }
    return e;
  }
  ExprPtr parse_math2() {
    ExprPtr e = parse_pow();
    while (is_op("*") || is_op("/") || is_op("//") || is_op("%")) {
      const Token op = cur();
      advance();
      e = binary(Expr::Kind::kBinary, op.text, std::move(e), parse_pow(), op.pos);
    }
    return e;
  }
  ExprPtr parse_pow() {
    ExprPtr e = parse_unary(true);
    while (is_op("**")) {
      const Pos pos = cur().pos;
      advance();
      e = binary(Expr::Kind::kBinary, "**", std::move(e), parse_unary(true), pos);
    }
    return e;
  }
  ExprPtr parse_unary(bool with_filter) {
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

  ExprPtr parse_primary() {
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

  static ExprPtr literal(Value v, Pos pos) {
    auto e = make(Expr::Kind::kLiteral, pos);
    e->literal = std::move(v);
    return e;
  }

  ExprPtr parse_postfix(ExprPtr e) {
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

  ExprPtr parse_filter_expr(ExprPtr e) {
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

  ExprPtr parse_subscript(ExprPtr obj) {
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

  void parse_call_args(Expr* e) {
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

  ExprPtr parse_call(ExprPtr callee) {
    auto e = make(Expr::Kind::kCall, cur().pos);
    e->children.push_back(std::move(callee));
    parse_call_args(e.get());
    return e;
  }

  ExprPtr parse_filter(ExprPtr obj) {
    advance();  // '|'
    auto e = make(Expr::Kind::kFilter, cur().pos);
    e->name = expect_name();
    if (!has_filter(e->name))
      throw ParseError{e->pos, "unsupported construct: no filter named '" + e->name + "'"};
    e->children.push_back(std::move(obj));
    if (is_op("(")) parse_call_args(e.get());
    return e;
  }

  ExprPtr parse_test(ExprPtr obj) {
    advance();  // 'is'
    auto e = make(Expr::Kind::kTest, cur().pos);
    e->negated = skip_name("not");
    const Pos name_pos = cur().pos;
    e->name = expect_name();
    if (!has_test(e->name))
      throw ParseError{name_pos, "unsupported construct: no test named '" + e->name + "'"};
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

  std::vector<Token> toks_;
  size_t i_ = 0;
  int depth_ = 0;
  int loop_depth_ = 0;
};

}  // namespace

Result<std::shared_ptr<const Template>> parse_template(std::string_view source) {
  Result<std::vector<Token>> tokens = tokenize(source);
  if (!tokens.ok()) return tokens.error();
  try {
    Parser parser(std::move(tokens).value());
    return parser.parse();
  } catch (const ParseError& e) {
    return Error{format_pos(e.pos) + ": " + e.message};
  }
}

}  // namespace shardserve::chat_template
