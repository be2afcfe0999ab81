// Runtime values of the chat-template interpreter, modelled on the Python objects that Jinja2
// templates see: none, bool, int, float, str, list/tuple, dict (insertion-ordered), callables,
// namespace objects and Jinja's `undefined`.
//
// Values are cheap to copy: strings are held by value, lists, dicts and callables are shared
// (templates in HF's immutable sandbox cannot mutate lists or dicts; only namespace objects are
// mutated, through `set ns.attr = ...`, which is what sharing is meant to allow).
// Text is UTF-8; operations that Python defines on code points (len, slicing) work on code points.
// Not thread-safe to mutate; a rendered template builds its own values and shares none.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

namespace shardserve::chat_template {

class Value;
using ValueList = std::vector<Value>;
using ValueDict = std::vector<std::pair<Value, Value>>;  // insertion order, unique keys

// Arguments of a call: positional then keyword, as written in the template.
struct CallArgs {
  ValueList positional;
  std::vector<std::pair<std::string, Value>> keyword;
};

// A callable value (builtin global, bound method, macro). Throws TemplateError on misuse.
using Function = std::function<Value(CallArgs&)>;

class Value {
 public:
  enum class Type { kUndefined, kNone, kBool, kInt, kFloat, kString, kList, kDict, kFunction };

  Value() = default;  // undefined
  static Value undefined(std::string hint = {});
  static Value none();
  Value(bool b);     // NOLINT: implicit by design, like Python literals
  Value(int64_t i);  // NOLINT
  Value(int i) : Value(static_cast<int64_t>(i)) {}      // NOLINT
  Value(double d);                                      // NOLINT
  Value(std::string s);                                 // NOLINT
  Value(std::string_view s) : Value(std::string(s)) {}  // NOLINT
  Value(const char* s) : Value(std::string(s)) {}       // NOLINT
  static Value list(ValueList items, bool is_tuple = false);
  static Value dict(ValueDict items = {});
  static Value namespace_object(ValueDict items = {});
  static Value function(std::string name, Function fn);
  static Value from_json(const nlohmann::ordered_json& j);

  Type type() const { return type_; }
  bool is_undefined() const { return type_ == Type::kUndefined; }
  bool is_none() const { return type_ == Type::kNone; }
  bool is_bool() const { return type_ == Type::kBool; }
  bool is_int() const { return type_ == Type::kInt; }
  bool is_float() const { return type_ == Type::kFloat; }
  bool is_number() const { return is_int() || is_float(); }  // bools excluded (Jinja's test)
  bool is_string() const { return type_ == Type::kString; }
  bool is_list() const { return type_ == Type::kList; }
  bool is_dict() const { return type_ == Type::kDict; }
  bool is_function() const { return type_ == Type::kFunction; }
  bool is_tuple() const { return is_list() && is_tuple_; }
  bool is_namespace() const { return is_dict() && is_namespace_; }

  bool as_bool() const { return b_; }
  int64_t as_int() const { return i_; }  // kInt or kBool
  double as_double() const { return is_float() ? d_ : static_cast<double>(i_); }
  const std::string& as_string() const { return s_; }
  const ValueList& as_list() const { return *list_; }
  const ValueDict& as_dict() const { return *dict_; }
  ValueDict& mutable_dict() { return *dict_; }  // namespace assignment only
  const std::string& undefined_hint() const { return s_; }
  Value call(CallArgs& args) const { return (*fn_)(args); }

  // Python truthiness (undefined is false).
  bool truthy() const;
  // Dict lookup by key; nullptr when absent. Precondition: is_dict().
  const Value* find(const Value& key) const;
  const Value* find(std::string_view key) const;
  const Value* find(const std::string& key) const { return find(std::string_view(key)); }
  const Value* find(const char* key) const { return find(std::string_view(key)); }
  // Python str(x) as Jinja prints it ("" for undefined, "None", "True", "['a', 1]").
  std::string str() const;
  // Python repr(x).
  std::string repr() const;
  // Python ==, deep (1 == 1.0 == True; list and dict compare element-wise).
  bool equals(const Value& other) const;
  // Python type name for error messages ("str", "int", "dict", ...).
  std::string type_name() const;

 private:
  Type type_ = Type::kUndefined;
  bool b_ = false;
  bool is_tuple_ = false;
  bool is_namespace_ = false;
  int64_t i_ = 0;
  double d_ = 0;
  std::string s_;  // string value, undefined hint, or function name
  std::shared_ptr<ValueList> list_;
  std::shared_ptr<ValueDict> dict_;
  std::shared_ptr<Function> fn_;
};

// Python float repr (shortest round-trip: "1.0", "0.1", "1e+100").
std::string python_float_repr(double d);

// json.dumps(x, ensure_ascii=..., indent=..., separators=..., sort_keys=...) as HF's `tojson`
// defines it (ensure_ascii defaults to False there). indent < 0 means None. Returns false (and sets
// *bad_type) for values JSON cannot hold (undefined, functions).
struct JsonFormat {
  int indent = -1;
  std::string indent_str;  // used when indent_is_string
  bool indent_is_string = false;
  std::string item_separator;  // empty: Python's default for the indent
  std::string key_separator;
  bool has_separators = false;
  bool sort_keys = false;
  bool ensure_ascii = false;  // escape non-ASCII as \uXXXX
};
bool to_python_json(const Value& v, const JsonFormat& format, std::string* out,
                    std::string* bad_type);

}  // namespace shardserve::chat_template
