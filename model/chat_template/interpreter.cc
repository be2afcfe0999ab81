#include "model/chat_template/interpreter.h"

#include <unordered_map>

#include "model/chat_template/builtins.h"
#include "model/chat_template/errors.h"
#include "model/chat_template/ops.h"

namespace shardserve::chat_template {
namespace {

using Scope = std::unordered_map<std::string, Value>;
enum class Flow { kNormal, kBreak, kContinue };

class Interpreter {
 public:
  Interpreter(const Value& context, const RenderLimits& limits) : limits_(limits) {
    scopes_.push_back(make_globals());
    Scope top;
    for (const auto& [k, v] : context.as_dict()) {
      if (k.is_string()) top[k.as_string()] = v;
    }
    scopes_.push_back(std::move(top));
  }

  std::string run(const Body& body) {
    exec_body(body);
    return std::move(out_);
  }

 private:
  // ---- bookkeeping ----
  void step(Pos pos) {
    if (++steps_ > limits_.max_steps) {
      throw TemplateError{pos, "template exceeded " + std::to_string(limits_.max_steps) +
                                   " steps (an endless loop?)"};
    }
  }
  void emit(const std::string& s, Pos pos) {
    out_ += s;
    if (out_.size() > limits_.max_output_bytes) {
      throw TemplateError{
          pos, "template output exceeded " + std::to_string(limits_.max_output_bytes) + " bytes"};
    }
  }
  Value lookup(const std::string& name) const {
    for (auto it = scopes_.rbegin(); it != scopes_.rend(); ++it) {
      auto found = it->find(name);
      if (found != it->end()) return found->second;
    }
    return Value::undefined("'" + name + "' is undefined");
  }
  void assign(const std::string& name, Value v) { scopes_.back()[name] = std::move(v); }

  // ---- statements ----
  Flow exec_body(const Body& body) {
    for (const NodePtr& n : body) {
      const Flow f = exec(*n);
      if (f != Flow::kNormal) return f;
    }
    return Flow::kNormal;
  }

  Flow exec(const Node& n) {
    step(n.pos);
    switch (n.kind) {
      case Node::Kind::kText:
        emit(n.text, n.pos);
        return Flow::kNormal;
      case Node::Kind::kOutput:
        emit(eval(*n.expr).str(), n.pos);
        return Flow::kNormal;
      case Node::Kind::kIf:
        for (const auto& [cond, body] : n.branches) {
          if (eval(*cond).truthy()) return exec_body(body);
        }
        return exec_body(n.else_body);
      case Node::Kind::kFor:
        exec_for(n);
        return Flow::kNormal;
      case Node::Kind::kSet:
        exec_set(n);
        return Flow::kNormal;
      case Node::Kind::kMacro:
        define_macro(n);
        return Flow::kNormal;
      case Node::Kind::kBreak:
        return Flow::kBreak;
      case Node::Kind::kContinue:
        return Flow::kContinue;
      case Node::Kind::kBlock:
        return exec_body(n.body);
      case Node::Kind::kWith: {
        ValueList values;  // evaluated in the outer scope, like Jinja
        for (const auto& [name, ex] : n.params) values.push_back(eval(*ex));
        scopes_.emplace_back();
        for (size_t k = 0; k < values.size(); ++k) assign(n.params[k].first, values[k]);
        const Flow f = exec_body(n.body);
        scopes_.pop_back();
        return f;
      }
      case Node::Kind::kFilterBlock: {
        std::string saved = std::move(out_);
        out_.clear();
        const Flow f = exec_body(n.body);
        Value captured(std::move(out_));
        out_ = std::move(saved);
        CallArgs a = eval_args(*n.expr, 1);
        try {
          emit(apply_filter(n.expr->name, captured, a).str(), n.pos);
        } catch (TemplateError& e) {
          if (e.pos.line == 0) e.pos = n.expr->pos;
          throw;
        }
        return f;
      }
    }
    return Flow::kNormal;
  }

  void bind_targets(const std::vector<std::string>& targets, const Value& v, Pos pos) {
    if (targets.size() == 1) {
      assign(targets[0], v);
      return;
    }
    ValueList items;
    try {
      items = iterate(v);
    } catch (TemplateError& e) {
      e.pos = pos;
      throw;
    }
    if (items.size() != targets.size()) {
      throw TemplateError{pos, "cannot unpack " + std::to_string(items.size()) + " values into " +
                                   std::to_string(targets.size()) + " names"};
    }
    for (size_t k = 0; k < targets.size(); ++k) assign(targets[k], items[k]);
  }

  void exec_for(const Node& n) {
    const Value iterable = eval(*n.expr);
    ValueList owned;
    const ValueList* items_ptr = &owned;
    if (iterable.is_list()) {
      items_ptr = &iterable.as_list();  // no copy: `iterable` keeps the list alive
    } else {
      try {
        owned = iterate(iterable);
      } catch (TemplateError& e) {
        e.pos = n.expr->pos;
        throw;
      }
    }
    scopes_.emplace_back();
    if (n.filter) {  // `for x in xs if cond`: filter first, so loop.length counts what remains
      ValueList kept;
      for (const Value& item : *items_ptr) {
        step(n.pos);
        bind_targets(n.targets, item, n.pos);
        if (eval(*n.filter).truthy()) kept.push_back(item);
      }
      owned = std::move(kept);
      items_ptr = &owned;
    }
    const ValueList& items = *items_ptr;
    const int64_t len = static_cast<int64_t>(items.size());
    // One `loop` object per loop, updated in place each iteration (cheaper than rebuilding it).
    auto index = std::make_shared<int64_t>(0);
    ValueDict fields;
    for (const char* key : {"index", "index0", "revindex", "revindex0", "first", "last", "length",
                            "depth", "depth0", "previtem", "nextitem"}) {
      fields.emplace_back(Value(key), Value());
    }
    fields.emplace_back(Value("cycle"), Value::function("loop.cycle", [index](CallArgs& a) {
                          if (a.positional.empty()) throw_error("no items for cycling given");
                          return a.positional[*index % a.positional.size()];
                        }));
    Value loop = Value::dict(std::move(fields));
    const Value no_prev = Value::undefined("there is no previous item");
    const Value no_next = Value::undefined("there is no next item");
    for (int64_t i = 0; i < len; ++i) {
      step(n.pos);
      *index = i;
      ValueDict& f = loop.mutable_dict();
      f[0].second = Value(i + 1);
      f[1].second = Value(i);
      f[2].second = Value(len - i);
      f[3].second = Value(len - i - 1);
      f[4].second = Value(i == 0);
      f[5].second = Value(i == len - 1);
      f[6].second = Value(len);
      f[7].second = Value(1);
      f[8].second = Value(0);
      f[9].second = i > 0 ? items[i - 1] : no_prev;
      f[10].second = i + 1 < len ? items[i + 1] : no_next;
      Scope& scope = scopes_.back();
      if (scope.size() > 1 || (scope.size() == 1 && scope.count("loop") == 0)) scope.clear();
      bind_targets(n.targets, items[i], n.pos);
      assign("loop", loop);
      if (exec_body(n.body) == Flow::kBreak) break;
    }
    scopes_.pop_back();
    if (len == 0) exec_body(n.else_body);
  }

  void exec_set(const Node& n) {
    if (!n.attr.empty()) {
      Value ns = lookup(n.targets[0]);
      if (!ns.is_namespace()) {
        throw TemplateError{n.pos, "can only assign attributes of namespace objects, '" +
                                       n.targets[0] + "' is " + ns.type_name()};
      }
      Value v = eval(*n.expr);
      ValueDict& d = ns.mutable_dict();
      for (auto& [k, e] : d) {
        if (k.is_string() && k.as_string() == n.attr) {
          e = std::move(v);
          return;
        }
      }
      d.emplace_back(Value(n.attr), std::move(v));
      return;
    }
    if (n.expr) {
      bind_targets(n.targets, eval(*n.expr), n.pos);
      return;
    }
    std::string saved = std::move(out_);
    out_.clear();
    exec_body(n.body);
    std::string captured = std::move(out_);
    out_ = std::move(saved);
    assign(n.targets[0], Value(std::move(captured)));
  }

  void define_macro(const Node& n) {
    const Node* node = &n;
    assign(n.name,
           Value::function(n.name, [this, node](CallArgs& a) { return call_macro(*node, a); }));
  }

  Value call_macro(const Node& n, CallArgs& a) {
    if (++call_depth_ > limits_.max_call_depth) {
      --call_depth_;
      throw TemplateError{n.pos, "macro calls nested deeper than " +
                                     std::to_string(limits_.max_call_depth) +
                                     " (endless recursion?)"};
    }
    // Jinja's checks: keywords that name no parameter still unfilled, then surplus positionals.
    ValueDict extra_kwargs;
    for (const auto& [key, kv] : a.keyword) {
      bool is_param = false;
      for (size_t k = a.positional.size(); k < n.params.size(); ++k) {
        is_param = is_param || n.params[k].first == key;
      }
      if (is_param) continue;
      if (!n.catch_kwargs) {
        --call_depth_;
        throw_error("macro '" + n.name + "' takes no keyword argument '" + key + "'");
      }
      extra_kwargs.emplace_back(Value(key), kv);
    }
    if (a.positional.size() > n.params.size() && !n.catch_varargs) {
      --call_depth_;
      throw_error("macro '" + n.name + "' takes not more than " + std::to_string(n.params.size()) +
                  " argument(s)");
    }
    // The macro sees the globals and the template's top level, plus its own arguments.
    std::vector<Scope> saved(std::make_move_iterator(scopes_.begin() + 2),
                             std::make_move_iterator(scopes_.end()));
    scopes_.resize(2);
    std::string saved_out = std::move(out_);
    out_.clear();
    std::string result;
    try {
      scopes_.emplace_back();
      for (size_t k = 0; k < n.params.size(); ++k) {
        const auto& [pname, def] = n.params[k];
        Value v = k < a.positional.size() ? a.positional[k] : Value();
        for (const auto& [key, kv] : a.keyword) {
          if (key == pname && k >= a.positional.size()) v = kv;
        }
        if (k >= a.positional.size() && v.is_undefined() && def) v = eval(*def);
        if (v.is_undefined() && !def)
          v = Value::undefined("parameter '" + pname + "' was not provided");
        assign(pname, v);
      }
      if (n.catch_varargs) {
        ValueList rest;
        for (size_t k = n.params.size(); k < a.positional.size(); ++k) {
          rest.push_back(a.positional[k]);
        }
        assign("varargs", Value::list(std::move(rest), /*is_tuple=*/true));
      }
      if (n.catch_kwargs) assign("kwargs", Value::dict(std::move(extra_kwargs)));
      exec_body(n.body);
      result = std::move(out_);
    } catch (...) {
      out_ = std::move(saved_out);
      scopes_.resize(2);
      for (Scope& s : saved) scopes_.push_back(std::move(s));
      --call_depth_;
      throw;
    }
    out_ = std::move(saved_out);
    scopes_.resize(2);
    for (Scope& s : saved) scopes_.push_back(std::move(s));
    --call_depth_;
    return Value(std::move(result));
  }

  // ---- expressions ----
  CallArgs eval_args(const Expr& e, size_t first) {
    CallArgs a;
    for (size_t k = first; k < e.children.size(); ++k) a.positional.push_back(eval(*e.children[k]));
    for (const auto& [key, ex] : e.kwargs) a.keyword.emplace_back(key, eval(*ex));
    return a;
  }

  Value eval(const Expr& e) {
    try {
      return eval_inner(e);
    } catch (TemplateError& err) {
      if (err.pos.line == 0) err.pos = e.pos;
      throw;
    }
  }

  Value eval_inner(const Expr& e) {
    switch (e.kind) {
      case Expr::Kind::kLiteral:
        return e.literal;
      case Expr::Kind::kName:
        return lookup(e.name);
      case Expr::Kind::kList: {
        ValueList items;
        for (const ExprPtr& c : e.children) items.push_back(eval(*c));
        return Value::list(std::move(items), e.is_tuple);
      }
      case Expr::Kind::kDict: {
        ValueDict items;
        for (size_t k = 0; k + 1 < e.children.size(); k += 2) {
          Value key = eval(*e.children[k]);
          Value v = eval(*e.children[k + 1]);
          bool replaced = false;
          for (auto& [ek, ev] : items) {
            if (ek.equals(key)) {
              ev = v;
              replaced = true;
            }
          }
          if (!replaced) items.emplace_back(std::move(key), std::move(v));
        }
        return Value::dict(std::move(items));
      }
      case Expr::Kind::kGetAttr:
        return get_attr(eval(*e.children[0]), e.name);
      case Expr::Kind::kGetItem: {
        Value obj = eval(*e.children[0]);
        return get_item(obj, eval(*e.children[1]));
      }
      case Expr::Kind::kSlice: {
        Value obj = eval(*e.children[0]);
        Value parts[3];
        for (int k = 0; k < 3; ++k) {
          if (e.children[k + 1]) parts[k] = eval(*e.children[k + 1]);
        }
        return get_slice(obj, parts[0], parts[1], parts[2]);
      }
      case Expr::Kind::kCall: {
        Value callee = eval(*e.children[0]);
        CallArgs a = eval_args(e, 1);
        check_defined(callee);
        if (!callee.is_function())
          throw_error("'" + callee.type_name() + "' object is not callable");
        step(e.pos);
        return callee.call(a);
      }
      case Expr::Kind::kFilter: {
        Value in = eval(*e.children[0]);
        CallArgs a = eval_args(e, 1);
        return apply_filter(e.name, in, a);
      }
      case Expr::Kind::kTest: {
        Value in = eval(*e.children[0]);
        CallArgs a = eval_args(e, 1);
        return Value(apply_test(e.name, in, a) != e.negated);
      }
      case Expr::Kind::kUnary: {
        Value v = eval(*e.children[0]);
        if (e.name == "not") return Value(!v.truthy());
        if (e.name == "-") return negate(v);
        check_defined(v);
        if (!v.is_number() && !v.is_bool())
          throw_error("bad operand type for unary +: '" + v.type_name() + "'");
        return v.is_bool() ? Value(v.as_int()) : v;
      }
      case Expr::Kind::kBinary: {
        Value a = eval(*e.children[0]);
        Value b = eval(*e.children[1]);
        return binary_op(e.name, a, b);
      }
      case Expr::Kind::kCompare: {
        Value left = eval(*e.children[0]);
        for (size_t k = 0; k < e.ops.size(); ++k) {
          Value right = eval(*e.children[k + 1]);
          const std::string& op = e.ops[k];
          bool ok = false;
          if (op == "==")
            ok = left.equals(right);
          else if (op == "!=")
            ok = !left.equals(right);
          else if (op == "<")
            ok = py_less(left, right);
          else if (op == ">")
            ok = py_less(right, left);
          else if (op == "<=")
            ok = !py_less(right, left);
          else if (op == ">=")
            ok = !py_less(left, right);
          else if (op == "in")
            ok = contains(right, left);
          else
            ok = !contains(right, left);
          if (!ok) return Value(false);
          left = std::move(right);
        }
        return Value(true);
      }
      case Expr::Kind::kAnd: {
        Value a = eval(*e.children[0]);
        return a.truthy() ? eval(*e.children[1]) : a;
      }
      case Expr::Kind::kOr: {
        Value a = eval(*e.children[0]);
        return a.truthy() ? a : eval(*e.children[1]);
      }
      case Expr::Kind::kCondExpr:
        if (eval(*e.children[0]).truthy()) return eval(*e.children[1]);
        if (e.children[2]) return eval(*e.children[2]);
        return Value::undefined(
            "the inline if-expression evaluated to false and no else section was defined");
    }
    return Value();
  }

  const RenderLimits& limits_;
  std::vector<Scope> scopes_;  // [0] globals, [1] context + top level, then loops / macros
  std::string out_;
  int64_t steps_ = 0;
  int call_depth_ = 0;
};

}  // namespace

Result<std::string> render_template(const Template& tmpl, const Value& context,
                                    const RenderLimits& limits) {
  if (!context.is_dict()) return Error{"chat template context must be a JSON object"};
  try {
    Interpreter interp(context, limits);
    return interp.run(tmpl.body);
  } catch (const TemplateError& e) {
    return Error{format_pos(e.pos) + ": " + e.message};
  }
}

}  // namespace shardserve::chat_template
