#include "model/chat_template/parser.h"

#include <stdexcept>

#include "model/chat_template/builtins.h"
#include "model/chat_template/parser_internal.h"

namespace shardserve::chat_template {
namespace parser_internal {
namespace {

// Whether an expression or body reads the variable `name`; nested macro bodies are their own
// scope and do not count. Jinja asks this of a macro body to decide whether the macro takes
// extra positional (`varargs`) or keyword (`kwargs`) arguments.
bool reads_name(const Expr* e, const std::string& name) {
  if (e == nullptr) return false;
  if (e->kind == Expr::Kind::kName && e->name == name) return true;
  for (const ExprPtr& c : e->children) {
    if (reads_name(c.get(), name)) return true;
  }
  for (const auto& [key, v] : e->kwargs) {
    if (reads_name(v.get(), name)) return true;
  }
  return false;
}

bool reads_name(const Body& body, const std::string& name) {
  for (const NodePtr& n : body) {
    if (n->kind == Node::Kind::kMacro) continue;
    if (reads_name(n->expr.get(), name) || reads_name(n->filter.get(), name)) return true;
    for (const auto& [cond, branch] : n->branches) {
      if (reads_name(cond.get(), name) || reads_name(branch, name)) return true;
    }
    if (reads_name(n->body, name) || reads_name(n->else_body, name)) return true;
    for (const auto& [param, def] : n->params) {
      if (reads_name(def.get(), name)) return true;
    }
  }
  return false;
}

// Jinja2 (3.x) rejects an unknown filter or test when it compiles the template, except inside
// an `if` statement (its conditions and branches, not loops or macros nested in them) or a
// conditional expression, where the error waits until the filter runs. `soft` is that state.
void check_names(const Expr* e, bool soft) {
  if (e == nullptr) return;
  if (e->kind == Expr::Kind::kCondExpr) soft = true;
  if (!soft && e->kind == Expr::Kind::kFilter && !has_filter(e->name) &&
      !is_unimplemented_jinja_filter(e->name)) {
    throw ParseError{e->pos, "unsupported construct: no filter named '" + e->name + "'"};
  }
  if (!soft && e->kind == Expr::Kind::kTest && !has_test(e->name)) {
    throw ParseError{e->pos, "unsupported construct: no test named '" + e->name + "'"};
  }
  for (const ExprPtr& c : e->children) check_names(c.get(), soft);
  for (const auto& [key, v] : e->kwargs) check_names(v.get(), soft);
}

void check_names(const Body& body, bool soft) {
  for (const NodePtr& n : body) {
    switch (n->kind) {
      case Node::Kind::kIf:
        for (const auto& [cond, branch] : n->branches) {
          check_names(cond.get(), true);
          check_names(branch, true);
        }
        check_names(n->else_body, true);
        break;
      case Node::Kind::kFor:  // the iterable belongs to the enclosing frame
        check_names(n->expr.get(), soft);
        check_names(n->filter.get(), false);
        check_names(n->body, false);
        check_names(n->else_body, false);
        break;
      case Node::Kind::kWith:  // the values too
        for (const auto& [name, value] : n->params) check_names(value.get(), soft);
        check_names(n->body, false);
        break;
      case Node::Kind::kMacro:
        for (const auto& [name, def] : n->params) check_names(def.get(), false);
        check_names(n->body, false);
        break;
      default:  // output, set (value or block), filter block, pass-through block
        check_names(n->expr.get(), n->kind == Node::Kind::kFilterBlock ? false : soft);
        check_names(n->body, false);
        break;
    }
  }
}

}  // namespace

void check_filter_and_test_names(const Body& body) {
  check_names(body, false);
}

// Parses nodes until a block tag whose name is in `end_names` (left unconsumed, name stored
// in *stopped_at) or the end of the template (an error when end_names is not empty).
Body Parser::parse_body(std::initializer_list<const char*> end_names, std::string* stopped_at) {
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
      if (cur().type != T::kVarEnd) fail("expected end of expression '}}', got " + describe(cur()));
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

NodePtr Parser::parse_statement() {
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
    n->catch_varargs = reads_name(n->body, "varargs");
    n->catch_kwargs = reads_name(n->body, "kwargs");
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
  } else if (s == "with") {
    // {% with a = 1, b = x %}...{% endwith %}: a scope with its own variables.
    n->kind = Node::Kind::kWith;
    while (cur().type != T::kBlockEnd) {
      if (!n->params.empty()) expect_op(",");
      std::string name = expect_name();
      expect_op("=");
      n->params.emplace_back(std::move(name), parse_expression(true));
    }
    expect_block_end();
    n->body = parse_body({"endwith"}, &stop);
    advance();
    expect_block_end();
  } else if (s == "filter") {
    // {% filter name(args) %}...{% endfilter %}: the body's output goes through one filter.
    n->kind = Node::Kind::kFilterBlock;
    auto f = make(Expr::Kind::kFilter, cur().pos);
    f->name = expect_name();
    f->children.push_back(nullptr);  // the body's output, supplied when rendering
    if (is_op("(")) parse_call_args(f.get());
    if (is_op("|")) fail("unsupported construct: chained filters in a filter block");
    n->expr = bounded(std::move(f));
    expect_block_end();
    n->body = parse_body({"endfilter"}, &stop);
    advance();
    expect_block_end();
  } else {
    throw ParseError{tok.pos, "unsupported construct: '" + s + "' statement"};
  }
  return n;
}

std::vector<std::string> Parser::parse_targets() {
  std::vector<std::string> names;
  const bool paren = skip_op("(");
  do {
    if (paren && is_op(")")) break;
    names.push_back(expect_name());
  } while (skip_op(","));
  if (paren) expect_op(")");
  return names;
}

}  // namespace parser_internal

Result<std::shared_ptr<const Template>> parse_template(std::string_view source) {
  using parser_internal::ParseError;
  using parser_internal::Parser;
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
