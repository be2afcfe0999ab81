// Jinja2's builtin filters, as chat templates use them (jinja2/filters.py semantics), plus HF's
// `tojson` (json.dumps with ensure_ascii=False and optional indent/separators/sort_keys).
#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <unordered_map>

#include "model/chat_template/builtins.h"
#include "model/chat_template/errors.h"
#include "model/chat_template/ops.h"
#include "model/chat_template/text_util.h"

namespace shardserve::chat_template {
namespace {

using FilterFn = Value (*)(const Value& in, CallArgs& args);

// Jinja's make_attrgetter: "a.b.0" looks up item by item; integer parts index lists.
Value get_path(const Value& obj, const Value& attribute) {
  if (!attribute.is_string()) return get_item(obj, attribute);
  static const std::string kDot = ".";
  Value cur = obj;
  for (const std::string& part : py_split(attribute.as_string(), &kDot, -1)) {
    char* end = nullptr;
    const long long i = std::strtoll(part.c_str(), &end, 10);
    cur = (!part.empty() && *end == '\0') ? get_item(cur, Value(static_cast<int64_t>(i)))
                                          : get_item(cur, Value(part));
    if (cur.is_undefined()) break;
  }
  return cur;
}

std::string as_str(const Value& v) {
  return v.str();
}

Value f_trim(const Value& in, CallArgs& a) {
  const Value chars = arg(a, 0, "chars");
  const std::string s = as_str(in);
  if (chars.is_string()) return Value(py_strip(s, &chars.as_string(), true, true));
  return Value(py_strip(s, nullptr, true, true));
}
Value f_length(const Value& in, CallArgs&) {
  return Value(py_len(in));
}
Value f_upper(const Value& in, CallArgs&) {
  return Value(py_upper(as_str(in)));
}
Value f_lower(const Value& in, CallArgs&) {
  return Value(py_lower(as_str(in)));
}
Value f_title(const Value& in, CallArgs&) {
  return Value(jinja_title(as_str(in)));
}
Value f_capitalize(const Value& in, CallArgs&) {
  return Value(py_capitalize(as_str(in)));
}
Value f_string(const Value& in, CallArgs&) {
  return Value(as_str(in));
}
Value f_safe(const Value& in, CallArgs&) {
  return in;
}

Value f_default(const Value& in, CallArgs& a) {
  const Value def = arg(a, 0, "default_value", Value(""));
  const bool boolean = arg(a, 1, "boolean", Value(false)).truthy();
  if (in.is_undefined() || (boolean && !in.truthy())) return def;
  return in;
}

Value f_join(const Value& in, CallArgs& a) {
  const Value sep = arg(a, 0, "d", Value(""));
  const Value attribute = arg(a, 1, "attribute", Value::none());
  std::string out;
  bool first = true;
  for (const Value& item : iterate(in)) {
    if (!first) out += as_str(sep);
    first = false;
    out += as_str(attribute.is_none() ? item : get_path(item, attribute));
    if (out.size() > kMaxValueBytes) throw_error("string too large");
  }
  return Value(std::move(out));
}

Value f_first(const Value& in, CallArgs&) {
  ValueList items = iterate(in);
  return items.empty() ? Value::undefined("No first item, sequence was empty.") : items.front();
}
Value f_last(const Value& in, CallArgs&) {
  ValueList items = iterate(in);
  return items.empty() ? Value::undefined("No last item, sequence was empty.") : items.back();
}
Value f_list(const Value& in, CallArgs&) {
  return Value::list(iterate(in));
}
Value f_reverse(const Value& in, CallArgs&) {
  if (in.is_string()) return get_slice(in, Value(), Value(), Value(-1));
  ValueList items = iterate(in);
  std::reverse(items.begin(), items.end());
  return Value::list(std::move(items));
}

Value f_replace(const Value& in, CallArgs& a) {
  const Value count = arg(a, 2, "count", Value::none());
  return Value(py_replace(as_str(in), as_str(arg(a, 0, "old")), as_str(arg(a, 1, "new")),
                          count.is_none() ? -1 : count.as_int()));
}

Value f_items(const Value& in, CallArgs&) {
  if (in.is_undefined()) return Value::list({});
  if (!in.is_dict() || in.is_namespace())
    throw_error("items filter: expected a mapping, got " + in.type_name());
  ValueList out;
  for (const auto& [k, v] : in.as_dict()) out.push_back(Value::list({k, v}, true));
  return Value::list(std::move(out));
}

Value f_int(const Value& in, CallArgs& a) {
  const Value def = arg(a, 0, "default", Value(0));
  const int base = static_cast<int>(arg(a, 1, "base", Value(10)).as_int());
  if (in.is_int() || in.is_bool()) return Value(in.as_int());
  if (in.is_float()) {
    if (!std::isfinite(in.as_double())) return def;
    return Value(static_cast<int64_t>(in.as_double()));
  }
  if (in.is_string()) {
    const std::string s = py_strip(in.as_string(), nullptr, true, true);
    char* end = nullptr;
    errno = 0;
    const long long v = std::strtoll(s.c_str(), &end, base);
    if (!s.empty() && *end == '\0' && errno == 0) return Value(static_cast<int64_t>(v));
    const double d = std::strtod(s.c_str(), &end);
    if (!s.empty() && *end == '\0' && std::isfinite(d)) return Value(static_cast<int64_t>(d));
  }
  return def;
}

Value f_float(const Value& in, CallArgs& a) {
  const Value def = arg(a, 0, "default", Value(0.0));
  if (in.is_number() || in.is_bool()) return Value(in.as_double());
  if (in.is_string()) {
    const std::string s = py_strip(in.as_string(), nullptr, true, true);
    char* end = nullptr;
    const double d = std::strtod(s.c_str(), &end);
    if (!s.empty() && *end == '\0') return Value(d);
  }
  return def;
}

Value f_abs(const Value& in, CallArgs&) {
  if (in.is_int() || in.is_bool()) {
    if (in.as_int() == INT64_MIN) throw_error("integer overflow");
    return Value(static_cast<int64_t>(std::llabs(in.as_int())));
  }
  if (in.is_float()) return Value(std::fabs(in.as_double()));
  throw_error("bad operand type for abs(): '" + in.type_name() + "'");
}

Value f_round(const Value& in, CallArgs& a) {
  const int64_t precision = arg(a, 0, "precision", Value(0)).as_int();
  const std::string method = as_str(arg(a, 1, "method", Value("common")));
  if (!in.is_number() && !in.is_bool()) throw_error("round filter: expected a number");
  const double scale = std::pow(10.0, static_cast<double>(precision));
  double x = in.as_double() * scale;
  // Python's round() (method "common") rounds half to even, like nearbyint.
  x = method == "ceil" ? std::ceil(x) : method == "floor" ? std::floor(x) : std::nearbyint(x);
  return Value(x / scale);
}

Value f_tojson(const Value& in, CallArgs& a) {
  JsonFormat f;
  const Value indent = arg(a, 0, "indent", Value::none());
  if (indent.is_string()) {
    f.indent_is_string = true;
    f.indent_str = indent.as_string();
  } else if (indent.is_int()) {
    f.indent = static_cast<int>(std::clamp<int64_t>(indent.as_int(), 0, 64));
  }
  const Value separators = arg(a, 2, "separators", Value::none());
  if (separators.is_list() && separators.as_list().size() == 2) {
    f.has_separators = true;
    f.item_separator = as_str(separators.as_list()[0]);
    f.key_separator = as_str(separators.as_list()[1]);
  }
  f.sort_keys = arg(a, 3, "sort_keys", Value(false)).truthy();
  std::string out, bad;
  if (!to_python_json(in, f, &out, &bad)) throw_error("tojson: " + bad);
  return Value(std::move(out));
}

Value f_indent(const Value& in, CallArgs& a) {
  const Value width = arg(a, 0, "width", Value(4));
  const bool first = arg(a, 1, "first", Value(false)).truthy();
  const bool blank = arg(a, 2, "blank", Value(false)).truthy();
  const std::string pad = width.is_string()
                              ? width.as_string()
                              : std::string(std::clamp<int64_t>(width.as_int(), 0, 256), ' ');
  const std::string s = as_str(in);
  std::string out;
  size_t start = 0;
  bool first_line = true;
  while (true) {
    const size_t nl = s.find('\n', start);
    const std::string line =
        s.substr(start, nl == std::string::npos ? std::string::npos : nl - start);
    const bool add = first_line ? first : (blank || !py_strip(line, nullptr, true, true).empty());
    if (add) out += pad;
    out += line;
    if (nl == std::string::npos) break;
    out += '\n';
    start = nl + 1;
    first_line = false;
  }
  return Value(std::move(out));
}

// select/reject/selectattr/rejectattr share this: keep items whose (attribute's) test result
// equals `keep`.
Value select_impl(const Value& in, CallArgs& a, bool by_attr, bool keep) {
  size_t next = 0;
  Value attribute;
  if (by_attr) attribute = a.positional.size() > next ? a.positional[next++] : Value();
  std::string test;
  if (a.positional.size() > next) test = as_str(a.positional[next++]);
  if (!test.empty() && !has_test(test)) throw_error("no test named '" + test + "'");
  CallArgs test_args;
  test_args.positional.assign(a.positional.begin() + static_cast<long>(next), a.positional.end());
  ValueList out;
  for (const Value& item : iterate(in)) {
    const Value v = by_attr ? get_path(item, attribute) : item;
    const bool ok = test.empty() ? v.truthy() : apply_test(test, v, test_args);
    if (ok == keep) out.push_back(item);
  }
  return Value::list(std::move(out));
}
Value f_select(const Value& in, CallArgs& a) {
  return select_impl(in, a, false, true);
}
Value f_reject(const Value& in, CallArgs& a) {
  return select_impl(in, a, false, false);
}
Value f_selectattr(const Value& in, CallArgs& a) {
  return select_impl(in, a, true, true);
}
Value f_rejectattr(const Value& in, CallArgs& a) {
  return select_impl(in, a, true, false);
}

Value f_map(const Value& in, CallArgs& a) {
  ValueList out;
  const Value attribute = arg(a, 99, "attribute");
  if (!attribute.is_undefined()) {
    const Value def = arg(a, 99, "default");
    for (const Value& item : iterate(in)) {
      Value v = get_path(item, attribute);
      out.push_back(v.is_undefined() && !def.is_undefined() ? def : v);
    }
    return Value::list(std::move(out));
  }
  if (a.positional.empty()) throw_error("map filter: expected a filter name or attribute=");
  const std::string filter = as_str(a.positional[0]);
  if (!has_filter(filter)) throw_error("no filter named '" + filter + "'");
  CallArgs rest;
  rest.positional.assign(a.positional.begin() + 1, a.positional.end());
  rest.keyword = a.keyword;
  for (const Value& item : iterate(in)) {
    CallArgs copy = rest;
    out.push_back(apply_filter(filter, item, copy));
  }
  return Value::list(std::move(out));
}

Value sort_key(const Value& v, const Value& attribute, bool case_sensitive) {
  Value k = attribute.is_undefined() || attribute.is_none() ? v : get_path(v, attribute);
  if (!case_sensitive && k.is_string()) return Value(py_lower(k.as_string()));
  return k;
}

Value f_sort(const Value& in, CallArgs& a) {
  const bool reverse = arg(a, 0, "reverse", Value(false)).truthy();
  const bool cs = arg(a, 1, "case_sensitive", Value(false)).truthy();
  const Value attribute = arg(a, 2, "attribute");
  ValueList items = iterate(in);
  std::stable_sort(items.begin(), items.end(), [&](const Value& x, const Value& y) {
    return reverse ? py_less(sort_key(y, attribute, cs), sort_key(x, attribute, cs))
                   : py_less(sort_key(x, attribute, cs), sort_key(y, attribute, cs));
  });
  return Value::list(std::move(items));
}

Value f_unique(const Value& in, CallArgs& a) {
  const bool cs = arg(a, 0, "case_sensitive", Value(false)).truthy();
  const Value attribute = arg(a, 1, "attribute");
  ValueList out, seen;
  for (const Value& item : iterate(in)) {
    const Value k = sort_key(item, attribute, cs);
    if (std::none_of(seen.begin(), seen.end(), [&](const Value& s) { return s.equals(k); })) {
      seen.push_back(k);
      out.push_back(item);
    }
  }
  return Value::list(std::move(out));
}

Value min_max(const Value& in, CallArgs& a, bool want_max) {
  const bool cs = arg(a, 0, "case_sensitive", Value(false)).truthy();
  const Value attribute = arg(a, 1, "attribute");
  ValueList items = iterate(in);
  if (items.empty()) return Value::undefined("No aggregated item, sequence was empty.");
  Value best = items[0];
  for (const Value& item : items) {
    const bool better = want_max
                            ? py_less(sort_key(best, attribute, cs), sort_key(item, attribute, cs))
                            : py_less(sort_key(item, attribute, cs), sort_key(best, attribute, cs));
    if (better) best = item;
  }
  return best;
}
Value f_min(const Value& in, CallArgs& a) {
  return min_max(in, a, false);
}
Value f_max(const Value& in, CallArgs& a) {
  return min_max(in, a, true);
}

Value f_sum(const Value& in, CallArgs& a) {
  const Value attribute = arg(a, 0, "attribute");
  Value total = arg(a, 1, "start", Value(0));
  for (const Value& item : iterate(in)) {
    total = binary_op("+", total, attribute.is_undefined() ? item : get_path(item, attribute));
  }
  return total;
}

Value f_escape(const Value& in, CallArgs&) {
  std::string out;
  for (char c : as_str(in)) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&#34;";
        break;
      case '\'':
        out += "&#39;";
        break;
      default:
        out += c;
    }
  }
  return Value(std::move(out));
}

Value f_wordcount(const Value& in, CallArgs&) {
  return Value(static_cast<int64_t>(py_split(as_str(in), nullptr, -1).size()));
}

Value f_attr(const Value& in, CallArgs& a) {
  return get_attr(in, as_str(arg(a, 0, "name")));
}

Value f_dictsort(const Value& in, CallArgs& a) {
  const bool cs = arg(a, 0, "case_sensitive", Value(false)).truthy();
  const bool by_value = as_str(arg(a, 1, "by", Value("key"))) == "value";
  const bool reverse = arg(a, 2, "reverse", Value(false)).truthy();
  ValueList items = f_items(in, a).as_list();
  const Value pos(by_value ? 1 : 0);
  std::stable_sort(items.begin(), items.end(), [&](const Value& x, const Value& y) {
    const Value kx = sort_key(get_item(x, pos), Value(), cs),
                ky = sort_key(get_item(y, pos), Value(), cs);
    return reverse ? py_less(ky, kx) : py_less(kx, ky);
  });
  return Value::list(std::move(items));
}

const std::unordered_map<std::string_view, FilterFn>& filters() {
  static const std::unordered_map<std::string_view, FilterFn> table = {
      {"abs", f_abs},           {"attr", f_attr},       {"capitalize", f_capitalize},
      {"count", f_length},      {"d", f_default},       {"default", f_default},
      {"dictsort", f_dictsort}, {"e", f_escape},        {"escape", f_escape},
      {"first", f_first},       {"float", f_float},     {"indent", f_indent},
      {"int", f_int},           {"items", f_items},     {"join", f_join},
      {"last", f_last},         {"length", f_length},   {"list", f_list},
      {"lower", f_lower},       {"map", f_map},         {"max", f_max},
      {"min", f_min},           {"reject", f_reject},   {"rejectattr", f_rejectattr},
      {"replace", f_replace},   {"reverse", f_reverse}, {"round", f_round},
      {"safe", f_safe},         {"select", f_select},   {"selectattr", f_selectattr},
      {"sort", f_sort},         {"string", f_string},   {"sum", f_sum},
      {"title", f_title},       {"tojson", f_tojson},   {"trim", f_trim},
      {"unique", f_unique},     {"upper", f_upper},     {"wordcount", f_wordcount},
  };
  return table;
}

}  // namespace

Value arg(const CallArgs& args, size_t index, const char* name, Value fallback) {
  if (index < args.positional.size()) return args.positional[index];
  for (const auto& [k, v] : args.keyword) {
    if (k == name) return v;
  }
  return fallback;
}

bool has_filter(std::string_view name) {
  return filters().count(name) > 0;
}

Value apply_filter(const std::string& name, const Value& input, CallArgs& args) {
  return filters().at(name)(input, args);
}

}  // namespace shardserve::chat_template
