// Jinja2's builtin tests, the str/dict methods templates call, and the global functions.
#include "model/chat_template/builtins.h"

#include <ctime>

#include "model/chat_template/errors.h"
#include "model/chat_template/format.h"
#include "model/chat_template/ops.h"
#include "model/chat_template/text_util.h"

namespace shardserve::chat_template {
namespace {

using TestFn = bool (*)(const Value& in, CallArgs& args);

bool is_num(const Value& v) {
  return v.is_number() || v.is_bool();
}
Value first_arg(const CallArgs& a) {
  if (a.positional.empty() && a.keyword.empty()) throw_error("test expects an argument");
  return a.positional.empty() ? a.keyword[0].second : a.positional[0];
}

bool t_defined(const Value& v, CallArgs&) {
  return !v.is_undefined();
}
bool t_undefined(const Value& v, CallArgs&) {
  return v.is_undefined();
}
bool t_none(const Value& v, CallArgs&) {
  return v.is_none();
}
bool t_string(const Value& v, CallArgs&) {
  return v.is_string();
}
bool t_number(const Value& v, CallArgs&) {
  return is_num(v);
}  // Python: bool is a Number
bool t_integer(const Value& v, CallArgs&) {
  return v.is_int();
}
bool t_float(const Value& v, CallArgs&) {
  return v.is_float();
}
bool t_boolean(const Value& v, CallArgs&) {
  return v.is_bool();
}
bool t_true(const Value& v, CallArgs&) {
  return v.is_bool() && v.as_bool();
}
bool t_false(const Value& v, CallArgs&) {
  return v.is_bool() && !v.as_bool();
}
bool t_mapping(const Value& v, CallArgs&) {
  return v.is_dict() && !v.is_namespace();
}
bool t_iterable(const Value& v, CallArgs&) {
  return v.is_undefined() || v.is_string() || v.is_list() || (v.is_dict() && !v.is_namespace());
}
bool t_sequence(const Value& v, CallArgs& a) {
  return t_iterable(v, a);
}
bool t_callable(const Value& v, CallArgs&) {
  return v.is_function();
}
bool t_odd(const Value& v, CallArgs&) {
  check_defined(v);
  return is_num(v) && binary_op("%", v, Value(2)).as_double() == 1;
}
bool t_even(const Value& v, CallArgs&) {
  check_defined(v);
  return is_num(v) && binary_op("%", v, Value(2)).as_double() == 0;
}
bool t_divisibleby(const Value& v, CallArgs& a) {
  return binary_op("%", v, first_arg(a)).as_double() == 0;
}
bool t_eq(const Value& v, CallArgs& a) {
  return v.equals(first_arg(a));
}
bool t_ne(const Value& v, CallArgs& a) {
  return !v.equals(first_arg(a));
}
bool t_lt(const Value& v, CallArgs& a) {
  return py_less(v, first_arg(a));
}
bool t_gt(const Value& v, CallArgs& a) {
  return py_less(first_arg(a), v);
}
bool t_le(const Value& v, CallArgs& a) {
  return !py_less(first_arg(a), v);
}
bool t_ge(const Value& v, CallArgs& a) {
  return !py_less(v, first_arg(a));
}
bool t_in(const Value& v, CallArgs& a) {
  return contains(first_arg(a), v);
}
bool t_sameas(const Value& v, CallArgs& a) {
  const Value o = first_arg(a);
  if (v.type() != o.type()) return false;
  if (v.is_list() || v.is_dict() || v.is_function()) return v.equals(o) && v.repr() == o.repr();
  return v.equals(o);
}
bool t_lower(const Value& v, CallArgs&) {
  return v.is_string() && py_lower(v.as_string()) == v.as_string() &&
         py_upper(v.as_string()) != v.as_string();
}
bool t_upper(const Value& v, CallArgs&) {
  return v.is_string() && py_upper(v.as_string()) == v.as_string() &&
         py_lower(v.as_string()) != v.as_string();
}
bool t_filter(const Value& v, CallArgs&) {
  return v.is_string() && has_filter(v.as_string());
}
bool t_test(const Value& v, CallArgs&) {
  return v.is_string() && has_test(v.as_string());
}
bool t_escaped(const Value&, CallArgs&) {
  return false;
}

const std::unordered_map<std::string_view, TestFn>& tests() {
  static const std::unordered_map<std::string_view, TestFn> table = {
      {"boolean", t_boolean},
      {"callable", t_callable},
      {"defined", t_defined},
      {"divisibleby", t_divisibleby},
      {"==", t_eq},
      {"eq", t_eq},
      {"equalto", t_eq},
      {"escaped", t_escaped},
      {"even", t_even},
      {"false", t_false},
      {"filter", t_filter},
      {"float", t_float},
      {">=", t_ge},
      {"ge", t_ge},
      {">", t_gt},
      {"gt", t_gt},
      {"greaterthan", t_gt},
      {"in", t_in},
      {"integer", t_integer},
      {"iterable", t_iterable},
      {"<=", t_le},
      {"le", t_le},
      {"lower", t_lower},
      {"<", t_lt},
      {"lt", t_lt},
      {"lessthan", t_lt},
      {"mapping", t_mapping},
      {"!=", t_ne},
      {"ne", t_ne},
      {"none", t_none},
      {"number", t_number},
      {"odd", t_odd},
      {"sameas", t_sameas},
      {"sequence", t_sequence},
      {"string", t_string},
      {"test", t_test},
      {"true", t_true},
      {"undefined", t_undefined},
      {"upper", t_upper},
  };
  return table;
}

// ---- methods ----

const std::string* opt_string(const Value& v, const char* what) {
  if (v.is_undefined() || v.is_none()) return nullptr;
  if (!v.is_string()) throw_error(std::string(what) + " arg must be None or str");
  return &v.as_string();
}

bool affix_match(const std::string& s, const Value& affix, bool prefix) {
  auto one = [&](const Value& a) {
    if (!a.is_string()) throw_error("startswith/endswith: expected a str or a tuple of str");
    const std::string& x = a.as_string();
    if (x.size() > s.size()) return false;
    return prefix ? s.compare(0, x.size(), x) == 0
                  : s.compare(s.size() - x.size(), x.size(), x) == 0;
  };
  if (affix.is_list()) {
    for (const Value& a : affix.as_list()) {
      if (one(a)) return true;
    }
    return false;
  }
  return one(affix);
}

Value string_method(const std::string& s, const std::string& name, CallArgs& a) {
  if (name == "strip" || name == "lstrip" || name == "rstrip") {
    const Value chars = arg(a, 0, "chars");
    return Value(py_strip(s, opt_string(chars, name.c_str()), name != "rstrip", name != "lstrip"));
  }
  if (name == "split" || name == "rsplit") {
    const Value sep = arg(a, 0, "sep");
    const int64_t maxsplit = arg(a, 1, "maxsplit", Value(-1)).as_int();
    const std::string* sep_s = opt_string(sep, "split");
    if (sep_s != nullptr && sep_s->empty()) throw_error("empty separator");
    ValueList out;
    for (std::string& part :
         name == "rsplit" ? py_rsplit(s, sep_s, maxsplit) : py_split(s, sep_s, maxsplit)) {
      out.emplace_back(std::move(part));
    }
    return Value::list(std::move(out));
  }
  if (name == "format") return Value(str_format(s, a));
  if (name == "removeprefix" || name == "removesuffix") {
    const Value affix = arg(a, 0, name == "removeprefix" ? "prefix" : "suffix");
    if (!affix.is_string()) throw_error(name + "() argument must be str, not " + affix.type_name());
    const std::string& x = affix.as_string();
    if (x.empty() || !affix_match(s, affix, name == "removeprefix")) return Value(s);
    return Value(name == "removeprefix" ? s.substr(x.size()) : s.substr(0, s.size() - x.size()));
  }
  if (name == "partition" || name == "rpartition") {
    const Value sep = arg(a, 0, "sep");
    if (!sep.is_string()) throw_error("must be str, not " + sep.type_name());
    if (sep.as_string().empty()) throw_error("empty separator");
    const size_t p = name == "partition" ? s.find(sep.as_string()) : s.rfind(sep.as_string());
    if (p == std::string::npos) {
      return name == "partition" ? Value::list({Value(s), Value(""), Value("")}, true)
                                 : Value::list({Value(""), Value(""), Value(s)}, true);
    }
    return Value::list({Value(s.substr(0, p)), sep, Value(s.substr(p + sep.as_string().size()))},
                       true);
  }
  if (name == "center" || name == "ljust" || name == "rjust" || name == "zfill") {
    const Value width = arg(a, 0, "width");
    if (!width.is_int() && !width.is_bool()) throw_error(name + "() expects an integer width");
    const Value fill = name == "zfill" ? Value("0") : arg(a, 1, "fillchar", Value(" "));
    if (!fill.is_string() || code_point_count(fill.as_string()) != 1) {
      throw_error("The fill character must be exactly one character long");
    }
    const int64_t len = static_cast<int64_t>(code_point_count(s));
    const int64_t w = std::min<int64_t>(width.as_int(), static_cast<int64_t>(kMaxValueBytes));
    if (w <= len) return Value(s);
    const int64_t margin = w - len;
    const int64_t left = name == "ljust"    ? 0
                         : name == "center" ? margin / 2 + (margin & w & 1)
                                            : margin;
    std::string out, body = s;
    if (name == "zfill" && !s.empty() && (s[0] == '+' || s[0] == '-')) {
      out += s[0];  // the sign stays in front of the zeros
      body = s.substr(1);
    }
    for (int64_t k = 0; k < left; ++k) out += fill.as_string();
    out += body;
    for (int64_t k = left; k < margin; ++k) out += fill.as_string();
    return Value(std::move(out));
  }
  if (name == "splitlines") {
    ValueList out;
    size_t start = 0;
    while (start < s.size()) {
      size_t nl = s.find('\n', start);
      if (nl == std::string::npos) nl = s.size();
      std::string line = s.substr(start, nl - start);
      if (!line.empty() && line.back() == '\r') line.pop_back();
      out.emplace_back(std::move(line));
      start = nl + 1;
    }
    return Value::list(std::move(out));
  }
  if (name == "startswith") return Value(affix_match(s, arg(a, 0, "prefix"), true));
  if (name == "endswith") return Value(affix_match(s, arg(a, 0, "suffix"), false));
  if (name == "upper") return Value(py_upper(s));
  if (name == "lower") return Value(py_lower(s));
  if (name == "title") return Value(py_title(s));
  if (name == "capitalize") return Value(py_capitalize(s));
  if (name == "replace") {
    return Value(py_replace(s, arg(a, 0, "old").str(), arg(a, 1, "new").str(),
                            arg(a, 2, "count", Value(-1)).as_int()));
  }
  if (name == "find" || name == "rfind" || name == "count" || name == "index") {
    const std::string needle = arg(a, 0, "sub").str();
    if (name == "count") {
      int64_t n = 0;
      if (needle.empty()) return Value(static_cast<int64_t>(code_point_count(s)) + 1);
      for (size_t p = s.find(needle); p != std::string::npos; p = s.find(needle, p + needle.size()))
        ++n;
      return Value(n);
    }
    const size_t p = name == "rfind" ? s.rfind(needle) : s.find(needle);
    if (p == std::string::npos) {
      if (name == "index") throw_error("substring not found");
      return Value(-1);
    }
    return Value(static_cast<int64_t>(code_point_count(std::string_view(s).substr(0, p))));
  }
  if (name == "join") {
    std::string out;
    bool first = true;
    for (const Value& item : iterate(arg(a, 0, "iterable"))) {
      if (!item.is_string())
        throw_error("join: expected str instance, " + item.type_name() + " found");
      if (!first) out += s;
      first = false;
      out += item.as_string();
    }
    return Value(std::move(out));
  }
  auto all_of = [&](auto pred) {
    if (s.empty()) return Value(false);
    for (char c : s) {
      if (!pred(c)) return Value(false);
    }
    return Value(true);
  };
  if (name == "isdigit") return all_of([](char c) { return c >= '0' && c <= '9'; });
  if (name == "isalpha") {
    return all_of([](char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); });
  }
  if (name == "isspace") return all_of([](char c) { return c == ' ' || (c >= '\t' && c <= '\r'); });
  if (name == "isalnum") {
    return all_of([](char c) {
      return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
    });
  }
  if (name == "islower") return Value(py_lower(s) == s && py_upper(s) != s);
  if (name == "isupper") return Value(py_upper(s) == s && py_lower(s) != s);
  throw_error("unknown str method '" + name + "'");
}

Value dict_method(const Value& d, const std::string& name, CallArgs& a) {
  if (name == "items" || name == "keys" || name == "values") {
    ValueList out;
    for (const auto& [k, v] : d.as_dict()) {
      out.push_back(name == "items" ? Value::list({k, v}, true) : name == "keys" ? k : v);
    }
    return Value::list(std::move(out));
  }
  if (name == "copy") return Value::dict(d.as_dict());
  // get
  const Value* v = d.find(arg(a, 0, "key"));
  return v != nullptr ? *v : arg(a, 1, "default", Value::none());
}

Value list_method(const Value& l, const std::string& name, CallArgs& a) {
  if (name == "copy") return Value::list(l.as_list());
  const Value x = arg(a, 0, "value");
  const ValueList& items = l.as_list();
  int64_t n = 0;
  for (size_t k = 0; k < items.size(); ++k) {
    if (!items[k].equals(x)) continue;
    if (name == "index") return Value(static_cast<int64_t>(k));
    ++n;
  }
  if (name == "index") throw_error(x.repr() + " is not in list");
  return Value(n);
}

bool is_string_method(const std::string& n) {
  static const char* kNames[] = {
      "strip",      "lstrip",  "rstrip",  "split",  "rsplit",       "splitlines",   "startswith",
      "endswith",   "upper",   "lower",   "title",  "capitalize",   "replace",      "find",
      "rfind",      "count",   "index",   "join",   "isdigit",      "isalpha",      "isspace",
      "islower",    "isupper", "isalnum", "format", "removeprefix", "removesuffix", "partition",
      "rpartition", "center",  "ljust",   "rjust",  "zfill"};
  for (const char* k : kNames) {
    if (n == k) return true;
  }
  return false;
}

// ---- globals ----

Value g_range(CallArgs& a) {
  int64_t start = 0, stop = 0, step = 1;
  for (const Value& v : a.positional) {
    if (!v.is_int() && !v.is_bool()) throw_error("range: arguments must be integers");
  }
  if (a.positional.size() == 1) {
    stop = a.positional[0].as_int();
  } else if (a.positional.size() == 2 || a.positional.size() == 3) {
    start = a.positional[0].as_int();
    stop = a.positional[1].as_int();
    if (a.positional.size() == 3) step = a.positional[2].as_int();
  } else {
    throw_error("range expects 1 to 3 integer arguments");
  }
  if (step == 0) throw_error("range() arg 3 must not be zero");
  ValueList out;
  for (int64_t i = start; step > 0 ? i < stop : i > stop; i += step) {
    if (static_cast<int64_t>(out.size()) >= kMaxRangeLength) throw_error("range too large");
    out.emplace_back(i);
  }
  return Value::list(std::move(out));
}

ValueDict kwargs_dict(CallArgs& a, bool allow_mapping) {
  ValueDict items;
  if (!a.positional.empty()) {
    if (!allow_mapping || a.positional.size() > 1 || !a.positional[0].is_dict()) {
      throw_error("expected keyword arguments only");
    }
    items = a.positional[0].as_dict();
  }
  for (auto& [k, v] : a.keyword) {
    bool replaced = false;
    for (auto& [ek, ev] : items) {
      if (ek.is_string() && ek.as_string() == k) {
        ev = v;
        replaced = true;
      }
    }
    if (!replaced) items.emplace_back(Value(k), v);
  }
  return items;
}

}  // namespace

bool has_test(std::string_view name) {
  return tests().count(name) > 0;
}

bool apply_test(const std::string& name, const Value& input, CallArgs& args) {
  const auto it = tests().find(name);
  if (it == tests().end()) throw_error("unsupported construct: no test named '" + name + "'");
  return it->second(input, args);
}

Value get_method(const Value& obj, const std::string& name) {
  if (obj.is_string() && is_string_method(name)) {
    const std::string s = obj.as_string();
    return Value::function("str." + name,
                           [s, name](CallArgs& a) { return string_method(s, name, a); });
  }
  if (obj.is_dict() && !obj.is_namespace() &&
      (name == "items" || name == "keys" || name == "values" || name == "get" || name == "copy")) {
    return Value::function("dict." + name,
                           [obj, name](CallArgs& a) { return dict_method(obj, name, a); });
  }
  if (obj.is_list() &&
      (name == "count" || name == "index" || (name == "copy" && !obj.is_tuple()))) {
    return Value::function((obj.is_tuple() ? "tuple." : "list.") + name,
                           [obj, name](CallArgs& a) { return list_method(obj, name, a); });
  }
  return Value();
}

std::string unsafe_attribute(const Value& obj, const std::string& name) {
  static const char* kDict[] = {"clear", "pop", "popitem", "setdefault", "update"};
  static const char* kList[] = {"append", "clear",  "extend",  "insert",
                                "pop",    "remove", "reverse", "sort"};
  bool unsafe = false;
  if (obj.is_dict() && !obj.is_namespace()) {
    for (const char* k : kDict) unsafe = unsafe || name == k;
  } else if (obj.is_list() && !obj.is_tuple()) {
    for (const char* k : kList) unsafe = unsafe || name == k;
  }
  if (!unsafe) return "";
  return "access to attribute '" + name + "' of '" + obj.type_name() + "' object is unsafe.";
}

std::unordered_map<std::string, Value> make_globals() {
  std::unordered_map<std::string, Value> g;
  g["range"] = Value::function("range", g_range);
  g["namespace"] = Value::function(
      "namespace", [](CallArgs& a) { return Value::namespace_object(kwargs_dict(a, true)); });
  g["dict"] =
      Value::function("dict", [](CallArgs& a) { return Value::dict(kwargs_dict(a, true)); });
  g["raise_exception"] = Value::function(
      "raise_exception", [](CallArgs& a) -> Value { throw_error(arg(a, 0, "message").str()); });
  g["strftime_now"] = Value::function("strftime_now", [](CallArgs& a) {
    const std::string format = arg(a, 0, "format").str();
    const std::time_t now = std::time(nullptr);
    std::tm tm{};
    localtime_r(&now, &tm);
    char buf[256];
    const size_t n = std::strftime(buf, sizeof(buf), format.c_str(), &tm);
    return Value(std::string(buf, n));
  });
  return g;
}

}  // namespace shardserve::chat_template
