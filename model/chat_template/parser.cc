#include "model/chat_template/parser.h"

#include <stdexcept>

#include "model/chat_template/builtins.h"
#include "model/chat_template/parser_internal.h"

namespace shardserve::chat_template {
namespace parser_internal {

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
    if (!has_filter(f->name)) {
      throw ParseError{f->pos, "unsupported construct: no filter named '" + f->name + "'"};
    }
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
