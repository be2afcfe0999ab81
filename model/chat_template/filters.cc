// Jinja2's builtin filters, as chat templates use them (jinja2/filters.py semantics), plus HF's
// `tojson` (json.dumps(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False)).
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <unordered_map>

#include "model/chat_template/builtins.h"
#include "model/chat_template/errors.h"
#include "model/chat_template/format.h"
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
  if (method != "common" && method != "ceil" && method != "floor") {
    throw_error("method must be common, ceil or floor");
  }
  if (!in.is_number() && !in.is_bool()) throw_error("round filter: expected a number");
  if (method == "common") {
    // Python's round(): an int stays an int; a float rounds its exact binary value half to
    // even, which is what printf's correctly rounded "%.*f" does.
    if (!in.is_float()) return Value(in.as_int());
    const double d = in.as_double();
    if (precision >= 0 && std::isfinite(d)) {
      char buf[512];
      const int n = std::snprintf(buf, sizeof(buf), "%.*f",
                                  static_cast<int>(std::min<int64_t>(precision, 340)), d);
      if (n > 0 && static_cast<size_t>(n) < sizeof(buf)) return Value(std::strtod(buf, nullptr));
      return Value(d);
    }
    const double scale = std::pow(10.0, static_cast<double>(-precision));
    return std::isfinite(d) ? Value(std::nearbyint(d / scale) * scale) : Value(d);
  }
  const double scale = std::pow(10.0, static_cast<double>(precision));
  const double x = in.as_double() * scale;
  return Value((method == "ceil" ? std::ceil(x) : std::floor(x)) / scale);
}

// HF's override: tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False).
Value f_tojson(const Value& in, CallArgs& a) {
  JsonFormat f;
  f.ensure_ascii = arg(a, 0, "ensure_ascii", Value(false)).truthy();
  const Value indent = arg(a, 1, "indent", Value::none());
  if (indent.is_string()) {
    f.indent_is_string = true;
    f.indent_str = indent.as_string();
  } else if (indent.is_int() || indent.is_bool()) {
    f.indent = static_cast<int>(std::clamp<int64_t>(indent.as_int(), 0, 64));
  } else if (!indent.is_none()) {
    throw_error("tojson: indent must be an int or a str, not " + indent.type_name());
  }
  const Value separators = arg(a, 2, "separators", Value::none());
  if (separators.is_list() && separators.as_list().size() == 2) {
    f.has_separators = true;
    f.item_separator = as_str(separators.as_list()[0]);
    f.key_separator = as_str(separators.as_list()[1]);
  } else if (!separators.is_none()) {
    throw_error("tojson: separators must be a pair of strings");
  }
  f.sort_keys = arg(a, 3, "sort_keys", Value(false)).truthy();
  std::string out, bad;
  if (!to_python_json(in, f, &out, &bad)) throw_error("tojson: " + bad);
  return Value(std::move(out));
}

// Jinja's format filter: `value % args`, or `value % kwargs` (a dict for "%(name)s").
Value f_format(const Value& in, CallArgs& a) {
  if (!a.positional.empty() && !a.keyword.empty()) {
    throw_error("can't handle positional and keyword arguments at the same time");
  }
  if (!a.keyword.empty()) {
    ValueDict kwargs;
    for (const auto& [k, v] : a.keyword) kwargs.emplace_back(Value(k), v);
    return Value(percent_format(as_str(in), Value::dict(std::move(kwargs))));
  }
  return Value(percent_format(as_str(in), Value::list(a.positional, /*is_tuple=*/true)));
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

Value f_center(const Value& in, CallArgs& a) {
  CallArgs c;
  c.positional.push_back(arg(a, 0, "width", Value(80)));
  return get_method(Value(as_str(in)), "center").call(c);
}

// truncate(s, length=255, killwords=False, end='...', leeway=5), in code points.
Value f_truncate(const Value& in, CallArgs& a) {
  const std::string s = as_str(in);
  const int64_t length = arg(a, 0, "length", Value(255)).as_int();
  const bool killwords = arg(a, 1, "killwords", Value(false)).truthy();
  const std::string end = as_str(arg(a, 2, "end", Value("...")));
  const Value leeway_v = arg(a, 3, "leeway", Value::none());
  const int64_t leeway = leeway_v.is_none() ? 5 : leeway_v.as_int();
  const auto end_len = static_cast<int64_t>(code_point_count(end));
  if (length < end_len) throw_error("expected length >= " + std::to_string(end_len));
  if (leeway < 0) throw_error("expected leeway >= 0");
  if (static_cast<int64_t>(code_point_count(s)) <= length + leeway) return Value(s);
  const std::string head = get_slice(Value(s), Value(), Value(length - end_len), Value()).str();
  if (killwords) return Value(head + end);
  static const std::string kSpace = " ";
  return Value(py_rsplit(head, &kSpace, 1).front() + end);
}

// batch(value, linecount, fill_with=None): lists of `linecount` items, the last one padded.
Value f_batch(const Value& in, CallArgs& a) {
  const int64_t n = arg(a, 0, "linecount").as_int();
  const Value fill = arg(a, 1, "fill_with", Value::none());
  if (n <= 0) throw_error("batch: linecount must be positive");
  ValueList out, cur;
  for (const Value& item : iterate(in)) {
    cur.push_back(item);
    if (static_cast<int64_t>(cur.size()) == n) {
      out.push_back(Value::list(std::move(cur)));
      cur.clear();
    }
  }
  if (!cur.empty()) {
    if (!fill.is_none()) {
      while (static_cast<int64_t>(cur.size()) < n) cur.push_back(fill);
    }
    out.push_back(Value::list(std::move(cur)));
  }
  return Value::list(std::move(out));
}

// slice(value, slices, fill_with=None): `slices` columns, as jinja2's do_slice cuts them.
Value f_slice(const Value& in, CallArgs& a) {
  const int64_t slices = arg(a, 0, "slices").as_int();
  const Value fill = arg(a, 1, "fill_with", Value::none());
  if (slices <= 0 || slices > kMaxRangeLength) throw_error("slice: bad number of slices");
  const ValueList seq = iterate(in);
  const auto length = static_cast<int64_t>(seq.size());
  const int64_t per = length / slices, with_extra = length % slices;
  int64_t offset = 0;
  ValueList out;
  for (int64_t k = 0; k < slices; ++k) {
    const int64_t start = offset + k * per;
    if (k < with_extra) ++offset;
    const int64_t end = offset + (k + 1) * per;
    ValueList part(seq.begin() + start, seq.begin() + end);
    if (!fill.is_none() && k >= with_extra) part.push_back(fill);
    out.push_back(Value::list(std::move(part)));
  }
  return Value::list(std::move(out));
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
      {"abs", f_abs},
      {"attr", f_attr},
      {"batch", f_batch},
      {"capitalize", f_capitalize},
      {"center", f_center},
      {"count", f_length},
      {"d", f_default},
      {"default", f_default},
      {"dictsort", f_dictsort},
      {"e", f_escape},
      {"escape", f_escape},
      {"forceescape", f_escape},
      {"first", f_first},
      {"float", f_float},
      {"format", f_format},
      {"indent", f_indent},
      {"int", f_int},
      {"items", f_items},
      {"join", f_join},
      {"last", f_last},
      {"length", f_length},
      {"list", f_list},
      {"lower", f_lower},
      {"map", f_map},
      {"max", f_max},
      {"min", f_min},
      {"reject", f_reject},
      {"rejectattr", f_rejectattr},
      {"replace", f_replace},
      {"reverse", f_reverse},
      {"round", f_round},
      {"safe", f_safe},
      {"select", f_select},
      {"selectattr", f_selectattr},
      {"slice", f_slice},
      {"sort", f_sort},
      {"string", f_string},
      {"sum", f_sum},
      {"title", f_title},
      {"tojson", f_tojson},
      {"trim", f_trim},
      {"truncate", f_truncate},
      {"unique", f_unique},
      {"upper", f_upper},
      {"wordcount", f_wordcount},
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

bool is_unimplemented_jinja_filter(std::string_view name) {
  static const char* kNames[] = {"filesizeformat", "groupby", "pprint",   "random", "striptags",
                                 "urlencode",      "urlize",  "wordwrap", "xmlattr"};
  for (const char* k : kNames) {
    if (name == k) return true;
  }
  return false;
}

bool has_filter(std::string_view name) {
  return filters().count(name) > 0;
}

Value apply_filter(const std::string& name, const Value& input, CallArgs& args) {
  const auto it = filters().find(name);
  if (it == filters().end()) {
    throw_error(is_unimplemented_jinja_filter(name)
                    ? "unsupported construct: filter '" + name + "'"
                    : "unsupported construct: no filter named '" + name + "'");
  }
  return it->second(input, args);
}

}  // namespace shardserve::chat_template
