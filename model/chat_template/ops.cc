#include "model/chat_template/ops.h"

#include <cmath>
#include <optional>

#include "model/chat_template/builtins.h"
#include "model/chat_template/errors.h"
#include "model/chat_template/format.h"
#include "model/chat_template/text_util.h"

namespace shardserve::chat_template {

void check_defined(const Value& v) {
  if (v.is_undefined()) {
    throw_error(v.undefined_hint().empty() ? "value is undefined" : v.undefined_hint());
  }
}

namespace {

// Built with append: GCC 12 warns falsely (-Wrestrict) on chains of operator+ starting at "'".
std::string quoted_type(const Value& obj) {
  std::string s(1, '\'');
  s.append(obj.type_name()).append(" object'");
  return s;
}

Value missing_attr(const Value& obj, const std::string& name) {
  return Value::undefined(quoted_type(obj).append(" has no attribute '").append(name).append("'"));
}

[[noreturn]] void unsupported(const std::string& op, const Value& a, const Value& b) {
  throw_error("unsupported operand type(s) for " + op + ": '" + a.type_name() + "' and '" +
              b.type_name() + "'");
}

bool is_intlike(const Value& v) {
  return v.is_int() || v.is_bool();
}

// Integer arithmetic with Python's result where it fits in 64 bits, else an error.
int64_t checked_op(char op, int64_t a, int64_t b) {
  int64_t r = 0;
  const bool overflow = op == '+'   ? __builtin_add_overflow(a, b, &r)
                        : op == '-' ? __builtin_sub_overflow(a, b, &r)
                                    : __builtin_mul_overflow(a, b, &r);
  if (overflow) throw_error("integer overflow");
  return r;
}

Value repeat(const Value& seq, int64_t n) {
  if (n <= 0) return seq.is_string() ? Value("") : Value::list({}, seq.is_tuple());
  const size_t unit = seq.is_string() ? seq.as_string().size() : seq.as_list().size() * 16;
  if (unit > 0 && static_cast<uint64_t>(n) > kMaxValueBytes / unit) {
    throw_error("sequence repetition too large");
  }
  if (seq.is_string()) {
    std::string out;
    for (int64_t k = 0; k < n; ++k) out += seq.as_string();
    return Value(std::move(out));
  }
  ValueList out;
  for (int64_t k = 0; k < n; ++k) out.insert(out.end(), seq.as_list().begin(), seq.as_list().end());
  return Value::list(std::move(out), seq.is_tuple());
}

double py_fmod(double a, double b) {
  double m = std::fmod(a, b);
  if (m != 0 && ((m < 0) != (b < 0))) m += b;
  return m;
}

}  // namespace

Value get_attr(const Value& obj, const std::string& name) {
  check_defined(obj);
  if (obj.is_namespace()) {
    const Value* v = obj.find(name);
    return v != nullptr ? *v : missing_attr(obj, name);
  }
  // Python looks up attributes before keys, so `d.update` is dict.update (refused by the
  // sandbox) even when d has an "update" key.
  const std::string unsafe = unsafe_attribute(obj, name);
  if (!unsafe.empty()) return Value::undefined(unsafe);
  Value method = get_method(obj, name);
  if (!method.is_undefined()) return method;
  if (obj.is_dict()) {
    const Value* v = obj.find(name);
    if (v != nullptr) return *v;
  }
  return missing_attr(obj, name);
}

Value get_item(const Value& obj, const Value& key) {
  check_defined(obj);
  if (obj.is_dict() && !obj.is_namespace()) {
    const Value* v = obj.find(key);
    if (v != nullptr) return *v;
  } else if ((obj.is_list() || obj.is_string()) && is_intlike(key)) {
    if (obj.is_list()) {
      const ValueList& items = obj.as_list();
      int64_t i = key.as_int();
      if (i < 0) i += static_cast<int64_t>(items.size());
      if (i >= 0 && i < static_cast<int64_t>(items.size())) return items[i];
    } else {
      const std::vector<size_t> offs = code_point_offsets(obj.as_string());
      const int64_t n = static_cast<int64_t>(offs.size()) - 1;
      int64_t i = key.as_int();
      if (i < 0) i += n;
      if (i >= 0 && i < n) return Value(obj.as_string().substr(offs[i], offs[i + 1] - offs[i]));
    }
    return Value::undefined(obj.type_name() + " index out of range");
  }
  if (key.is_string()) return get_attr(obj, key.as_string());
  return Value::undefined(quoted_type(obj).append(" has no item ").append(key.repr()));
}

Value get_slice(const Value& obj, const Value& start, const Value& stop, const Value& step) {
  check_defined(obj);
  if (!obj.is_list() && !obj.is_string())
    throw_error("'" + obj.type_name() + "' object is not subscriptable");
  auto as_index = [](const Value& v, const char* what) -> std::optional<int64_t> {
    if (v.is_undefined() || v.is_none()) return std::nullopt;
    if (!is_intlike(v)) throw_error(std::string("slice ") + what + " must be an integer or None");
    return v.as_int();
  };
  const std::optional<int64_t> o_start = as_index(start, "start"), o_stop = as_index(stop, "stop");
  const int64_t st = as_index(step, "step").value_or(1);
  if (st == 0) throw_error("slice step cannot be zero");
  std::vector<size_t> offs;
  int64_t n = 0;
  if (obj.is_string()) {
    offs = code_point_offsets(obj.as_string());
    n = static_cast<int64_t>(offs.size()) - 1;
  } else {
    n = static_cast<int64_t>(obj.as_list().size());
  }
  // Python's PySlice_AdjustIndices.
  auto adjust = [&](std::optional<int64_t> v, int64_t def) {
    if (!v) return def;
    int64_t i = *v;
    if (i < 0) {
      i += n;
      if (i < 0) i = st < 0 ? -1 : 0;
    } else if (i >= n) {
      i = st < 0 ? n - 1 : n;
    }
    return i;
  };
  const int64_t b = adjust(o_start, st < 0 ? n - 1 : 0);
  const int64_t e = adjust(o_stop, st < 0 ? -1 : n);
  std::vector<int64_t> idx;
  for (int64_t i = b; st > 0 ? i < e : i > e; i += st) idx.push_back(i);
  if (obj.is_string()) {
    std::string out;
    for (int64_t i : idx) out.append(obj.as_string(), offs[i], offs[i + 1] - offs[i]);
    return Value(std::move(out));
  }
  ValueList out;
  for (int64_t i : idx) out.push_back(obj.as_list()[i]);
  return Value::list(std::move(out), obj.is_tuple());
}

Value binary_op(const std::string& op, const Value& a, const Value& b) {
  if (op == "~") {
    std::string s = a.str() + b.str();
    if (s.size() > kMaxValueBytes) throw_error("string too large");
    return Value(std::move(s));
  }
  check_defined(a);
  // str % anything is Python's printf-style formatting (an undefined argument prints as "").
  if (op == "%" && a.is_string()) return Value(percent_format(a.as_string(), b));
  check_defined(b);
  const bool nums = (a.is_number() || a.is_bool()) && (b.is_number() || b.is_bool());
  const bool ints = is_intlike(a) && is_intlike(b);
  if (op == "+") {
    if (ints) return Value(checked_op('+', a.as_int(), b.as_int()));
    if (nums) return Value(a.as_double() + b.as_double());
    if (a.is_string() && b.is_string()) {
      if (a.as_string().size() + b.as_string().size() > kMaxValueBytes)
        throw_error("string too large");
      return Value(a.as_string() + b.as_string());
    }
    if (a.is_list() && b.is_list() && a.is_tuple() == b.is_tuple() && !a.is_namespace()) {
      ValueList out = a.as_list();
      out.insert(out.end(), b.as_list().begin(), b.as_list().end());
      return Value::list(std::move(out), a.is_tuple());
    }
    unsupported(op, a, b);
  }
  if (op == "-") {
    if (ints) return Value(checked_op('-', a.as_int(), b.as_int()));
    if (nums) return Value(a.as_double() - b.as_double());
    unsupported(op, a, b);
  }
  if (op == "*") {
    if (ints) return Value(checked_op('*', a.as_int(), b.as_int()));
    if (nums) return Value(a.as_double() * b.as_double());
    if ((a.is_string() || a.is_list()) && is_intlike(b)) return repeat(a, b.as_int());
    if ((b.is_string() || b.is_list()) && is_intlike(a)) return repeat(b, a.as_int());
    unsupported(op, a, b);
  }
  if (!nums) unsupported(op, a, b);
  if (op == "/") {
    if (b.as_double() == 0) throw_error("division by zero");
    return Value(a.as_double() / b.as_double());
  }
  if (op == "//" || op == "%") {
    if (b.as_double() == 0)
      throw_error(op == "//" ? "integer division or modulo by zero" : "modulo by zero");
    if (ints) {
      const int64_t x = a.as_int(), y = b.as_int();
      if (x == INT64_MIN && y == -1) throw_error("integer overflow");
      int64_t q = x / y, m = x % y;
      if (m != 0 && ((m < 0) != (y < 0))) {
        q -= 1;
        m += y;
      }
      return op == "//" ? Value(q) : Value(m);
    }
    const double m = py_fmod(a.as_double(), b.as_double());
    if (op == "%") return Value(m);
    return Value(std::floor((a.as_double() - m) / b.as_double() + 0.5));
  }
  if (op == "**") {
    if (ints && b.as_int() >= 0) {
      int64_t result = 1, base = a.as_int(), e = b.as_int();
      while (e > 0) {
        if (e & 1) result = checked_op('*', result, base);
        e >>= 1;
        if (e > 0) base = checked_op('*', base, base);
      }
      return Value(result);
    }
    if (a.as_double() == 0 && b.as_double() < 0) throw_error("zero to a negative power");
    return Value(std::pow(a.as_double(), b.as_double()));
  }
  throw_error("unknown operator '" + op + "'");
}

Value negate(const Value& v) {
  check_defined(v);
  if (is_intlike(v)) {
    if (v.as_int() == INT64_MIN) throw_error("integer overflow");
    return Value(-v.as_int());
  }
  if (v.is_float()) return Value(-v.as_double());
  throw_error("bad operand type for unary -: '" + v.type_name() + "'");
}

bool py_less(const Value& a, const Value& b) {
  check_defined(a);
  check_defined(b);
  if ((a.is_number() || a.is_bool()) && (b.is_number() || b.is_bool())) {
    if (a.is_float() || b.is_float()) return a.as_double() < b.as_double();
    return a.as_int() < b.as_int();
  }
  if (a.is_string() && b.is_string()) return a.as_string() < b.as_string();
  if (a.is_list() && b.is_list() && a.is_tuple() == b.is_tuple()) {
    const ValueList &x = a.as_list(), &y = b.as_list();
    for (size_t k = 0; k < x.size() && k < y.size(); ++k) {
      if (!x[k].equals(y[k])) return py_less(x[k], y[k]);
    }
    return x.size() < y.size();
  }
  throw_error("'<' not supported between instances of '" + a.type_name() + "' and '" +
              b.type_name() + "'");
}

bool contains(const Value& container, const Value& item) {
  if (container.is_undefined()) return false;
  if (container.is_string()) {
    if (!item.is_string()) {
      throw_error("'in <string>' requires string as left operand, not " + item.type_name());
    }
    return container.as_string().find(item.as_string()) != std::string::npos;
  }
  if (container.is_list()) {
    for (const Value& v : container.as_list()) {
      if (v.equals(item)) return true;
    }
    return false;
  }
  if (container.is_dict() && !container.is_namespace()) return container.find(item) != nullptr;
  throw_error("argument of type '" + container.type_name() + "' is not iterable");
}

ValueList iterate(const Value& v) {
  if (v.is_undefined()) return {};
  if (v.is_list()) return v.as_list();
  if (v.is_dict() && !v.is_namespace()) {
    ValueList keys;
    for (const auto& [k, e] : v.as_dict()) keys.push_back(k);
    return keys;
  }
  if (v.is_string()) {
    ValueList chars;
    const std::vector<size_t> offs = code_point_offsets(v.as_string());
    for (size_t k = 0; k + 1 < offs.size(); ++k) {
      chars.emplace_back(v.as_string().substr(offs[k], offs[k + 1] - offs[k]));
    }
    return chars;
  }
  throw_error("'" + v.type_name() + "' object is not iterable");
}

int64_t py_len(const Value& v) {
  if (v.is_undefined()) return 0;
  if (v.is_string()) return static_cast<int64_t>(code_point_count(v.as_string()));
  if (v.is_list()) return static_cast<int64_t>(v.as_list().size());
  if (v.is_dict() && !v.is_namespace()) return static_cast<int64_t>(v.as_dict().size());
  throw_error("object of type '" + v.type_name() + "' has no len()");
}

}  // namespace shardserve::chat_template
