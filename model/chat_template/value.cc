#include "model/chat_template/value.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>

#include "model/chat_template/text_util.h"

namespace shardserve::chat_template {

Value Value::undefined(std::string hint) {
  Value v;
  v.s_ = std::move(hint);
  return v;
}

Value Value::none() {
  Value v;
  v.type_ = Type::kNone;
  return v;
}

Value::Value(bool b) : type_(Type::kBool), b_(b), i_(b ? 1 : 0) {}
Value::Value(int64_t i) : type_(Type::kInt), i_(i) {}
Value::Value(double d) : type_(Type::kFloat), d_(d) {}
Value::Value(std::string s) : type_(Type::kString), s_(std::move(s)) {}

Value Value::list(ValueList items, bool is_tuple) {
  Value v;
  v.type_ = Type::kList;
  v.is_tuple_ = is_tuple;
  v.list_ = std::make_shared<ValueList>(std::move(items));
  return v;
}

Value Value::dict(ValueDict items) {
  Value v;
  v.type_ = Type::kDict;
  v.dict_ = std::make_shared<ValueDict>(std::move(items));
  return v;
}

Value Value::namespace_object(ValueDict items) {
  Value v = dict(std::move(items));
  v.is_namespace_ = true;
  return v;
}

Value Value::function(std::string name, Function fn) {
  Value v;
  v.type_ = Type::kFunction;
  v.s_ = std::move(name);
  v.fn_ = std::make_shared<Function>(std::move(fn));
  return v;
}

Value Value::from_json(const nlohmann::ordered_json& j) {
  switch (j.type()) {
    case nlohmann::ordered_json::value_t::null:
      return none();
    case nlohmann::ordered_json::value_t::boolean:
      return Value(j.get<bool>());
    case nlohmann::ordered_json::value_t::number_integer:
      return Value(j.get<int64_t>());
    case nlohmann::ordered_json::value_t::number_unsigned: {
      const auto u = j.get<uint64_t>();
      if (u > static_cast<uint64_t>(INT64_MAX)) return Value(static_cast<double>(u));
      return Value(static_cast<int64_t>(u));
    }
    case nlohmann::ordered_json::value_t::number_float:
      return Value(j.get<double>());
    case nlohmann::ordered_json::value_t::string:
      return Value(j.get<std::string>());
    case nlohmann::ordered_json::value_t::array: {
      ValueList items;
      items.reserve(j.size());
      for (const auto& e : j) items.push_back(from_json(e));
      return list(std::move(items));
    }
    case nlohmann::ordered_json::value_t::object: {
      ValueDict items;
      items.reserve(j.size());
      for (const auto& [k, e] : j.items()) items.emplace_back(Value(k), from_json(e));
      return dict(std::move(items));
    }
    default:
      return undefined();  // binary / discarded: not representable in a template
  }
}

bool Value::truthy() const {
  switch (type_) {
    case Type::kUndefined:
    case Type::kNone:
      return false;
    case Type::kBool:
      return b_;
    case Type::kInt:
      return i_ != 0;
    case Type::kFloat:
      return d_ != 0.0;
    case Type::kString:
      return !s_.empty();
    case Type::kList:
      return !list_->empty();
    case Type::kDict:
      return is_namespace_ || !dict_->empty();
    case Type::kFunction:
      return true;
  }
  return false;
}

const Value* Value::find(const Value& key) const {
  for (const auto& [k, v] : *dict_) {
    if (k.equals(key)) return &v;
  }
  return nullptr;
}

const Value* Value::find(std::string_view key) const {
  for (const auto& [k, v] : *dict_) {
    if (k.is_string() && k.as_string() == key) return &v;
  }
  return nullptr;
}

std::string python_float_repr(double d) {
  if (std::isnan(d)) return "nan";
  if (std::isinf(d)) return d > 0 ? "inf" : "-inf";
  char buf[64];
  auto res = std::to_chars(buf, buf + sizeof(buf), d, std::chars_format::scientific);
  std::string sci(buf, res.ptr);  // "-1.2345e+02"
  const size_t e = sci.find('e');
  std::string mant = sci.substr(0, e);
  const int exp10 = std::stoi(sci.substr(e + 1));
  bool neg = false;
  if (!mant.empty() && mant[0] == '-') {
    neg = true;
    mant.erase(0, 1);
  }
  std::string digits;
  for (char c : mant) {
    if (c != '.') digits += c;
  }
  std::string out;
  if (exp10 >= -5 + 1 && exp10 < 16) {  // Python 'r' repr: fixed notation for -4 <= exp < 16
    if (exp10 >= 0) {
      if (static_cast<int>(digits.size()) <= exp10 + 1) {
        out = digits + std::string(exp10 + 1 - digits.size(), '0') + ".0";
      } else {
        out = digits.substr(0, exp10 + 1) + "." + digits.substr(exp10 + 1);
      }
    } else {
      out = "0." + std::string(-exp10 - 1, '0') + digits;
    }
  } else {
    out = digits.substr(0, 1);
    if (digits.size() > 1) out += "." + digits.substr(1);
    char eb[16];
    std::snprintf(eb, sizeof(eb), "e%c%02d", exp10 < 0 ? '-' : '+', std::abs(exp10));
    out += eb;
  }
  return neg ? "-" + out : out;
}

namespace {

std::string py_string_repr(const std::string& s) {
  const bool use_double = s.find('\'') != std::string::npos && s.find('"') == std::string::npos;
  const char q = use_double ? '"' : '\'';
  std::string out(1, q);
  for (char c : s) {
    const auto u = static_cast<unsigned char>(c);
    if (c == q || c == '\\') {
      out += '\\';
      out += c;
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '\r') {
      out += "\\r";
    } else if (c == '\t') {
      out += "\\t";
    } else if (u < 0x20 || u == 0x7F) {
      char buf[8];
      std::snprintf(buf, sizeof(buf), "\\x%02x", u);
      out += buf;
    } else {
      out += c;
    }
  }
  out += q;
  return out;
}

}  // namespace

std::string Value::str() const {
  switch (type_) {
    case Type::kUndefined:
      return "";
    case Type::kString:
      return s_;
    default:
      return repr();
  }
}

std::string Value::repr() const {
  switch (type_) {
    case Type::kUndefined:
      return "Undefined";
    case Type::kNone:
      return "None";
    case Type::kBool:
      return b_ ? "True" : "False";
    case Type::kInt:
      return std::to_string(i_);
    case Type::kFloat:
      return python_float_repr(d_);
    case Type::kString:
      return py_string_repr(s_);
    case Type::kList: {
      std::string out = is_tuple_ ? "(" : "[";
      for (size_t k = 0; k < list_->size(); ++k) {
        if (k > 0) out += ", ";
        out += (*list_)[k].repr();
      }
      if (is_tuple_ && list_->size() == 1) out += ",";
      return out + (is_tuple_ ? ")" : "]");
    }
    case Type::kDict: {
      std::string out = is_namespace_ ? "<Namespace {" : "{";
      bool first = true;
      for (const auto& [k, v] : *dict_) {
        if (!first) out += ", ";
        first = false;
        out += k.repr() + ": " + v.repr();
      }
      return out + (is_namespace_ ? "}>" : "}");
    }
    case Type::kFunction:
      return "<function " + s_ + ">";
  }
  return "";
}

bool Value::equals(const Value& other) const {
  if (is_undefined() || other.is_undefined()) return is_undefined() && other.is_undefined();
  const bool num_a = is_number() || is_bool(), num_b = other.is_number() || other.is_bool();
  if (num_a && num_b) {
    if (is_float() || other.is_float()) return as_double() == other.as_double();
    return i_ == other.i_;
  }
  if (type_ != other.type_) return false;
  switch (type_) {
    case Type::kNone:
      return true;
    case Type::kString:
      return s_ == other.s_;
    case Type::kList: {
      if (list_ == other.list_) return true;
      if (is_tuple_ != other.is_tuple_ || list_->size() != other.list_->size()) return false;
      for (size_t k = 0; k < list_->size(); ++k) {
        if (!(*list_)[k].equals((*other.list_)[k])) return false;
      }
      return true;
    }
    case Type::kDict: {
      if (dict_ == other.dict_) return true;
      if (is_namespace_ || other.is_namespace_) return false;  // identity only
      if (dict_->size() != other.dict_->size()) return false;
      for (const auto& [k, v] : *dict_) {
        const Value* o = other.find(k);
        if (o == nullptr || !v.equals(*o)) return false;
      }
      return true;
    }
    case Type::kFunction:
      return fn_ == other.fn_;
    default:
      return false;
  }
}

std::string Value::type_name() const {
  switch (type_) {
    case Type::kUndefined:
      return "Undefined";
    case Type::kNone:
      return "NoneType";
    case Type::kBool:
      return "bool";
    case Type::kInt:
      return "int";
    case Type::kFloat:
      return "float";
    case Type::kString:
      return "str";
    case Type::kList:
      return is_tuple_ ? "tuple" : "list";
    case Type::kDict:
      return is_namespace_ ? "Namespace" : "dict";
    case Type::kFunction:
      return "function";
  }
  return "?";
}

namespace {

void append_u_escape(uint32_t unit, std::string* out) {
  char buf[16];
  std::snprintf(buf, sizeof(buf), "\\u%04x", unit);
  *out += buf;
}

// json.dumps's string encoder; ensure_ascii escapes everything outside ' '..'~' as \uXXXX
// (UTF-16 surrogate pairs above U+FFFF), as Python does.
void json_escape(const std::string& s, bool ensure_ascii, std::string* out) {
  *out += '"';
  for (size_t i = 0; i < s.size();) {
    const char c = s[i];
    const auto u = static_cast<unsigned char>(c);
    size_t len = 1;
    switch (c) {
      case '"':
        *out += "\\\"";
        break;
      case '\\':
        *out += "\\\\";
        break;
      case '\n':
        *out += "\\n";
        break;
      case '\r':
        *out += "\\r";
        break;
      case '\t':
        *out += "\\t";
        break;
      case '\b':
        *out += "\\b";
        break;
      case '\f':
        *out += "\\f";
        break;
      default:
        if (u < 0x20 || (ensure_ascii && u == 0x7F)) {
          append_u_escape(u, out);
        } else if (ensure_ascii && u >= 0x80) {
          const uint32_t cp = decode_code_point(s, i, &len);
          if (cp >= 0x10000) {
            append_u_escape(0xD800 + ((cp - 0x10000) >> 10), out);
            append_u_escape(0xDC00 + ((cp - 0x10000) & 0x3FF), out);
          } else {
            append_u_escape(cp, out);
          }
        } else {
          *out += c;
        }
    }
    i += len;
  }
  *out += '"';
}

struct JsonWriter {
  const JsonFormat& f;
  std::string* out;
  std::string* bad_type;
  std::string item_sep, key_sep;
  int depth = 0;

  bool indented() const { return f.indent_is_string || f.indent >= 0; }
  void newline(int level) {
    *out += '\n';
    for (int k = 0; k < level; ++k) {
      *out += f.indent_is_string ? f.indent_str : std::string(std::max(f.indent, 0), ' ');
    }
  }
  bool write(const Value& v) {
    if (++depth > 512) {
      *bad_type = "nesting too deep";
      return false;
    }
    bool ok = write_inner(v);
    --depth;
    return ok;
  }
  bool write_inner(const Value& v) {
    switch (v.type()) {
      case Value::Type::kNone:
        *out += "null";
        return true;
      case Value::Type::kBool:
        *out += v.as_bool() ? "true" : "false";
        return true;
      case Value::Type::kInt:
        *out += std::to_string(v.as_int());
        return true;
      case Value::Type::kFloat: {
        const double d = v.as_double();
        *out += std::isnan(d)   ? "NaN"
                : std::isinf(d) ? (d > 0 ? "Infinity" : "-Infinity")
                                : python_float_repr(d);
        return true;
      }
      case Value::Type::kString:
        json_escape(v.as_string(), f.ensure_ascii, out);
        return true;
      case Value::Type::kList: {
        const ValueList& items = v.as_list();
        if (items.empty()) {
          *out += "[]";
          return true;
        }
        *out += '[';
        for (size_t k = 0; k < items.size(); ++k) {
          if (k > 0) *out += item_sep;
          if (indented()) newline(depth);
          if (!write(items[k])) return false;
        }
        if (indented()) newline(depth - 1);
        *out += ']';
        return true;
      }
      case Value::Type::kDict: {
        if (v.is_namespace()) break;
        ValueDict items = v.as_dict();
        if (f.sort_keys) {
          std::stable_sort(items.begin(), items.end(), [](const auto& a, const auto& b) {
            return a.first.str() < b.first.str();
          });
        }
        if (items.empty()) {
          *out += "{}";
          return true;
        }
        *out += '{';
        bool first = true;
        for (const auto& [k, e] : items) {
          if (!first) *out += item_sep;
          first = false;
          if (indented()) newline(depth);
          if (k.is_string()) {
            json_escape(k.as_string(), f.ensure_ascii, out);
          } else if (k.is_none() || k.is_bool() || k.is_number()) {
            // Python converts these keys to strings: null, true, 1, 1.5.
            std::string key;
            JsonWriter kw{f, &key, bad_type, item_sep, key_sep};
            kw.write_inner(k);
            json_escape(key, f.ensure_ascii, out);
          } else {
            *bad_type = "keys must be str, int, float, bool or None, not " + k.type_name();
            return false;
          }
          *out += key_sep;
          if (!write(e)) return false;
        }
        if (indented()) newline(depth - 1);
        *out += '}';
        return true;
      }
      default:
        break;
    }
    *bad_type = "Object of type " + v.type_name() + " is not JSON serializable";
    return false;
  }
};

}  // namespace

bool to_python_json(const Value& v, const JsonFormat& format, std::string* out,
                    std::string* bad_type) {
  const bool indented = format.indent_is_string || format.indent >= 0;
  JsonWriter w{format, out, bad_type, indented ? "," : ", ", ": "};
  if (format.has_separators) {
    w.item_sep = format.item_separator;
    w.key_sep = format.key_separator;
  }
  return w.write(v);
}

}  // namespace shardserve::chat_template
