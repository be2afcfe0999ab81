// Python's printf-style (`%`) and str.format() formatting over template values.
#include "model/chat_template/format.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <vector>

#include "base/utf8.h"

#include "model/chat_template/errors.h"
#include "model/chat_template/ops.h"
#include "model/chat_template/text_util.h"

namespace shardserve::chat_template {
namespace {

bool is_digit(char c) {
  return c >= '0' && c <= '9';
}

// Appends the UTF-8 bytes of `fill` n times.
void append_fill(std::string* out, const std::string& fill, size_t n) {
  for (size_t k = 0; k < n; ++k) *out += fill;
}

// Pads `body` to `width` code points; align is '<', '>' or '^' (Python puts the odd one right).
std::string pad(const std::string& body, int64_t width, char align, const std::string& fill) {
  if (width > static_cast<int64_t>(kMaxValueBytes)) throw_error("string too large");
  const size_t len = code_point_count(body);
  if (width <= 0 || static_cast<size_t>(width) <= len) return body;
  const size_t n = static_cast<size_t>(width) - len;
  std::string out;
  const size_t left = align == '<' ? 0 : align == '^' ? n / 2 : n;
  append_fill(&out, fill, left);
  out += body;
  append_fill(&out, fill, n - left);
  return out;
}

// The first n code points of s (n < 0: all).
std::string truncate_code_points(const std::string& s, int64_t n) {
  if (n < 0) return s;
  const std::vector<size_t> offs = code_point_offsets(s);
  if (static_cast<size_t>(n) + 1 >= offs.size()) return s;
  return s.substr(0, offs[static_cast<size_t>(n)]);
}

std::string printf_double(const char* spec, int precision, double d) {
  const int n = std::snprintf(nullptr, 0, spec, precision, d);
  if (n < 0) throw_error("cannot format float");
  std::vector<char> buf(static_cast<size_t>(n) + 1);
  std::snprintf(buf.data(), buf.size(), spec, precision, d);
  return std::string(buf.data(), static_cast<size_t>(n));
}

// Removes trailing zeros (and a bare '.') from the mantissa of a %e/%f rendering.
std::string strip_zeros(const std::string& s) {
  const size_t e = s.find_first_of("eE");
  std::string mant = s.substr(0, e);
  if (mant.find('.') != std::string::npos) {
    while (!mant.empty() && mant.back() == '0') mant.pop_back();
    if (!mant.empty() && mant.back() == '.') mant.pop_back();
  }
  return e == std::string::npos ? mant : mant + s.substr(e);
}

// |d| rendered for one conversion. type: e E f F g G as in C; 'r' is repr(); 'R' is Python's
// format() with no type but a precision ('g' whose fixed form keeps a ".0").
std::string float_digits(double d, char type, int64_t precision, bool alt) {
  d = std::fabs(d);
  const bool upper = type == 'E' || type == 'F' || type == 'G';
  if (std::isnan(d)) return upper ? "NAN" : "nan";
  if (std::isinf(d)) return upper ? "INF" : "inf";
  const int p = static_cast<int>(std::min<int64_t>(precision, kMaxValueBytes));
  if (type == 'r') {
    std::string r = python_float_repr(d);
    // The alternate form always has a decimal point: 1e+300 -> 1.e+300.
    if (alt && r.find('.') == std::string::npos) r.insert(std::min(r.find('e'), r.size()), ".");
    return r;
  }
  if (type == 'R') {
    const int sig = std::max(p, 1);
    const std::string sci = printf_double("%.*e", sig - 1, d);
    const int exp10 = std::atoi(sci.c_str() + sci.find('e') + 1);
    if (exp10 < -4 || exp10 >= sig - 1) return alt ? sci : strip_zeros(sci);
    std::string fixed = printf_double("%.*f", sig - 1 - exp10, d);
    if (!alt) fixed = strip_zeros(fixed);
    if (fixed.find('.') == std::string::npos) fixed += ".0";
    return fixed;
  }
  std::string spec = alt ? "%#.*" : "%.*";
  spec += type;
  return printf_double(spec.c_str(), p, d);
}

std::string to_base(uint64_t u, int base, bool upper) {
  if (u == 0) return "0";
  const char* digits = upper ? "0123456789ABCDEF" : "0123456789abcdef";
  std::string s;
  while (u > 0) {
    s.insert(s.begin(), digits[u % static_cast<uint64_t>(base)]);
    u /= static_cast<uint64_t>(base);
  }
  return s;
}

uint64_t magnitude(int64_t i) {
  return i < 0 ? ~static_cast<uint64_t>(i) + 1 : static_cast<uint64_t>(i);
}

std::string code_point_to_utf8(int64_t cp) {
  if (cp < 0 || cp > 0x10FFFF) throw_error("%c arg not in range(0x110000)");
  std::string out;
  append_utf8(out, static_cast<char32_t>(cp));
  return out;
}

// Python ascii(): repr() with every non-ASCII code point escaped.
std::string ascii_repr(const Value& v) {
  const std::string r = v.repr();
  std::string out;
  for (size_t i = 0; i < r.size();) {
    size_t len = 0;
    const uint32_t cp = decode_code_point(r, i, &len);
    if (cp < 0x80) {
      out += r[i];
    } else {
      char buf[16];
      if (cp < 0x100) {
        std::snprintf(buf, sizeof(buf), "\\x%02x", cp);
      } else if (cp < 0x10000) {
        std::snprintf(buf, sizeof(buf), "\\u%04x", cp);
      } else {
        std::snprintf(buf, sizeof(buf), "\\U%08x", cp);
      }
      out += buf;
    }
    i += len;
  }
  return out;
}

// ---- printf-style ----

struct PercentSpec {
  bool left = false, plus = false, space = false, alt = false, zero = false;
  int64_t width = -1, precision = -1;
  char type = 0;
};

std::string sign_text(bool negative, const PercentSpec& s) {
  return std::string(negative ? "-" : s.plus ? "+" : s.space ? " " : "");
}

std::string percent_number(const Value& v, const PercentSpec& s) {
  const char t = s.type;
  std::string sign, prefix, digits;
  bool finite = true;
  if (t == 'd' || t == 'i' || t == 'u' || t == 'o' || t == 'x' || t == 'X') {
    bool negative = false;
    const int base = t == 'o' ? 8 : (t == 'x' || t == 'X') ? 16 : 10;
    if (v.is_int() || v.is_bool()) {
      negative = v.as_int() < 0;
      digits = to_base(magnitude(v.as_int()), base, t == 'X');
    } else if (v.is_float() && base == 10) {
      // Python's int(d) is exact at any size, and printf prints an integral double exactly.
      const double d = std::trunc(v.as_double());
      if (std::isnan(d)) throw_error("cannot convert float NaN to integer");
      if (std::isinf(d)) throw_error("cannot convert float infinity to integer");
      negative = d < 0;
      digits = printf_double("%.*f", 0, std::fabs(d));
    } else {
      throw_error(std::string("%") + t +
                  " format: " + (base != 10 ? "an integer" : "a real number") +
                  " is required, not " + v.type_name());
    }
    if (s.precision > 0 && static_cast<int64_t>(digits.size()) < s.precision) {
      digits.insert(0, static_cast<size_t>(s.precision) - digits.size(), '0');
    }
    if (s.alt && base != 10) prefix = t == 'o' ? "0o" : t == 'x' ? "0x" : "0X";
    sign = sign_text(negative, s);
  } else {
    if (!v.is_number() && !v.is_bool()) throw_error("must be real number, not " + v.type_name());
    const double d = v.as_double();
    finite = std::isfinite(d);
    digits = float_digits(d, t, s.precision < 0 ? 6 : s.precision, s.alt);
    sign = sign_text(std::signbit(d) && !std::isnan(d), s);
  }
  const int64_t len = static_cast<int64_t>(sign.size() + prefix.size() + digits.size());
  if (s.zero && !s.left && finite && s.width > len) {
    digits.insert(0, static_cast<size_t>(s.width - len), '0');
  }
  return pad(sign + prefix + digits, s.width, s.left ? '<' : '>', " ");
}

std::string percent_one(const Value& v, const PercentSpec& s) {
  switch (s.type) {
    case 's':
    case 'r':
    case 'a': {
      const std::string body = s.type == 's' ? v.str() : s.type == 'r' ? v.repr() : ascii_repr(v);
      return pad(truncate_code_points(body, s.precision), s.width, s.left ? '<' : '>', " ");
    }
    case 'c': {
      check_defined(v);
      std::string body;
      if (v.is_int() || v.is_bool()) {
        body = code_point_to_utf8(v.as_int());
      } else if (v.is_string() && code_point_count(v.as_string()) == 1) {
        body = v.as_string();
      } else {
        throw_error("%c requires an int or a unicode character, not " + v.type_name());
      }
      return pad(body, s.width, s.left ? '<' : '>', " ");
    }
    case 'd':
    case 'i':
    case 'u':
    case 'o':
    case 'x':
    case 'X':
    case 'e':
    case 'E':
    case 'f':
    case 'F':
    case 'g':
    case 'G':
      check_defined(v);  // Jinja's undefined refuses int() and float()
      return percent_number(v, s);
    default:
      break;
  }
  throw_error(std::string("unsupported format character '") + s.type + "'");
}

// ---- str.format() ----

struct FormatSpec {
  std::string fill = " ";
  char align = 0;
  char sign = 0;
  bool z = false, alt = false, zero = false;
  int64_t width = -1;
  char grouping = 0;
  int64_t precision = -1;
  char type = 0;
};

int64_t parse_int(const std::string& s, size_t* i) {
  int64_t n = 0;
  while (*i < s.size() && is_digit(s[*i])) {
    n = n * 10 + (s[*i] - '0');
    if (n > static_cast<int64_t>(kMaxValueBytes)) throw_error("string too large");
    ++*i;
  }
  return n;
}

bool is_align(char c) {
  return c == '<' || c == '>' || c == '=' || c == '^';
}

FormatSpec parse_spec(const std::string& spec) {
  FormatSpec f;
  size_t i = 0;
  size_t first_len = 0;
  if (!spec.empty()) decode_code_point(spec, 0, &first_len);
  bool fill_given = false;
  if (first_len < spec.size() && is_align(spec[first_len])) {
    f.fill = spec.substr(0, first_len);
    fill_given = true;
    f.align = spec[first_len];
    i = first_len + 1;
  } else if (!spec.empty() && is_align(spec[0])) {
    f.align = spec[0];
    i = 1;
  }
  if (i < spec.size() && (spec[i] == '+' || spec[i] == '-' || spec[i] == ' ')) f.sign = spec[i++];
  auto flag = [&](char c) {
    if (i >= spec.size() || spec[i] != c) return false;
    ++i;
    return true;
  };
  f.z = flag('z');
  f.alt = flag('#');
  f.zero = flag('0');
  if (f.zero && !fill_given) f.fill = "0";  // Python: '0' pads with zeros unless a fill is given
  if (i < spec.size() && is_digit(spec[i])) f.width = parse_int(spec, &i);
  if (i < spec.size() && (spec[i] == ',' || spec[i] == '_')) f.grouping = spec[i++];
  if (i < spec.size() && spec[i] == '.') {
    ++i;
    if (i >= spec.size() || !is_digit(spec[i])) throw_error("Format specifier missing precision");
    f.precision = parse_int(spec, &i);
  }
  if (i < spec.size()) f.type = spec[i++];
  if (i < spec.size()) throw_error("Invalid format specifier '" + spec + "'");
  return f;
}

[[noreturn]] void unknown_code(char type, const Value& v) {
  throw_error(std::string("Unknown format code '") + type + "' for object of type '" +
              v.type_name() + "'");
}

// Inserts `sep` every `every` digits from the right of a digit string.
std::string group_digits(const std::string& digits, char sep, size_t every) {
  std::string out;
  for (size_t k = 0; k < digits.size(); ++k) {
    if (k > 0 && (digits.size() - k) % every == 0) out += sep;
    out += digits[k];
  }
  return out;
}

// Sign, then digits padded per the spec ('=' alignment and the '0' flag pad after the sign).
std::string finish_number(const FormatSpec& f, bool negative, const std::string& prefix,
                          std::string int_part, const std::string& rest, size_t group_every) {
  const std::string sign = negative ? "-" : f.sign == '+' ? "+" : f.sign == ' ' ? " " : "";
  const char align = f.align != 0 ? f.align : f.zero ? '=' : '>';
  const std::string& fill = f.fill;
  if (f.grouping != 0) {
    if (align == '=' && fill == "0" && f.width > 0) {
      // Python grows the zero padding in groups, never starting with a separator.
      const int64_t fixed = static_cast<int64_t>(sign.size() + prefix.size() + rest.size());
      auto grouped_len = [&](int64_t digits) {
        return digits + (digits - 1) / static_cast<int64_t>(group_every);
      };
      auto digits = static_cast<int64_t>(int_part.size());
      while (fixed + grouped_len(digits) < f.width) ++digits;
      int_part.insert(0, static_cast<size_t>(digits) - int_part.size(), '0');
    }
    int_part = group_digits(int_part, f.grouping, group_every);
  }
  if (align == '=') {
    const std::string head = sign + prefix;
    const std::string body = int_part + rest;
    const int64_t len = static_cast<int64_t>(code_point_count(head) + code_point_count(body));
    std::string out = head;
    if (f.width > len) append_fill(&out, fill, static_cast<size_t>(f.width - len));
    return out + body;
  }
  return pad(sign + prefix + int_part + rest, f.width, align, fill);
}

std::string format_int(int64_t i, const FormatSpec& f, const Value& v) {
  if (f.precision >= 0) throw_error("Precision not allowed in integer format specifier");
  if (f.type == 'c') {
    if (f.sign != 0) throw_error("Sign not allowed with integer format specifier 'c'");
    if (f.alt) throw_error("Alternate form (#) not allowed with integer format specifier 'c'");
    return pad(code_point_to_utf8(i), f.width, f.align != 0 && f.align != '=' ? f.align : '>',
               f.fill);
  }
  int base = 10;
  std::string prefix;
  switch (f.type) {
    case 0:
    case 'd':
    case 'n':
      break;
    case 'b':
      base = 2;
      if (f.alt) prefix = "0b";
      break;
    case 'o':
      base = 8;
      if (f.alt) prefix = "0o";
      break;
    case 'x':
    case 'X':
      base = 16;
      if (f.alt) prefix = f.type == 'x' ? "0x" : "0X";
      break;
    default:
      unknown_code(f.type, v);
  }
  if (f.grouping == ',' && base != 10) {
    throw_error(std::string("Cannot specify ',' with '") + f.type + "'.");
  }
  return finish_number(f, i < 0, prefix, to_base(magnitude(i), base, f.type == 'X'), "",
                       base == 10 ? 3 : 4);
}

std::string format_float(double d, const FormatSpec& f, const Value& v) {
  char type = f.type;
  int64_t precision = f.precision;
  std::string suffix;
  switch (type) {
    case 0:
      type = precision < 0 ? 'r' : 'R';
      break;
    case 'n':
      type = 'g';
      break;
    case '%':
      d *= 100;
      type = 'f';
      suffix = "%";
      break;
    case 'e':
    case 'E':
    case 'f':
    case 'F':
    case 'g':
    case 'G':
      break;
    default:
      unknown_code(type, v);
  }
  if (precision < 0 && type != 'r') precision = 6;
  std::string digits = float_digits(d, type, precision, f.alt);
  bool negative = std::signbit(d) && !std::isnan(d);
  if (negative && f.z && std::strtod(digits.c_str(), nullptr) == 0) negative = false;
  // Grouping applies to the integer part only.
  const size_t int_end = digits.find_first_not_of("0123456789");
  const std::string int_part = digits.substr(0, int_end);
  const std::string rest = int_end == std::string::npos ? "" : digits.substr(int_end);
  if (int_part.empty()) return finish_number(f, negative, "", digits + suffix, "", 3);
  return finish_number(f, negative, "", int_part, rest + suffix, 3);
}

// Parses "name.attr[key]" and looks it up; `auto_index` numbers the "{}" fields.
Value lookup_field(const std::string& field, const CallArgs& args, int* auto_index, int* mode) {
  size_t i = 0;
  while (i < field.size() && field[i] != '.' && field[i] != '[') ++i;
  const std::string first = field.substr(0, i);
  auto all_digits = [](const std::string& t) {
    return !t.empty() && std::all_of(t.begin(), t.end(), is_digit);
  };
  // As Jinja's sandboxed string.Formatter numbers fields: "{}" is the next positional argument
  // and a field of digits alone a manual index; "{0.x}" is positional 0 without counting as
  // either, and "{.x}" looks for a keyword named "".
  if (field.empty()) {
    if (*mode == 2) {
      throw_error("cannot switch from manual field specification to automatic field numbering");
    }
    *mode = 1;
  } else if (all_digits(field)) {
    if (*mode == 1) {
      throw_error("cannot switch from automatic field numbering to manual field specification");
    }
    *mode = 2;
  }
  Value obj;
  if (field.empty() || all_digits(first)) {
    size_t index = 0;
    if (field.empty()) {
      index = static_cast<size_t>((*auto_index)++);
    } else {
      size_t j = 0;
      index = static_cast<size_t>(parse_int(first, &j));
    }
    if (index >= args.positional.size()) {
      throw_error("Replacement index " + std::to_string(index) +
                  " out of range for positional args tuple");
    }
    obj = args.positional[index];
  } else {
    bool found = false;
    for (const auto& [k, v] : args.keyword) {
      if (k == first) {
        obj = v;
        found = true;
      }
    }
    if (!found) throw_error("format: no argument named '" + first + "'");
  }
  while (i < field.size()) {
    if (field[i] == '.') {
      size_t j = ++i;
      while (j < field.size() && field[j] != '.' && field[j] != '[') ++j;
      if (j == i) throw_error("Empty attribute in format string");
      obj = get_attr(obj, field.substr(i, j - i));
      i = j;
    } else if (field[i] == '[') {
      const size_t close = field.find(']', i);
      if (close == std::string::npos) throw_error("Missing ']' in format string");
      const std::string key = field.substr(i + 1, close - i - 1);
      if (key.empty()) throw_error("Empty attribute in format string");
      size_t j = 0;
      const int64_t n = parse_int(key, &j);
      obj = get_item(obj, j == key.size() ? Value(n) : Value(key));
      i = close + 1;
    } else {
      throw_error("Only '.' or '[' may follow ']' in format field specifier");
    }
  }
  return obj;
}

std::string format_impl(const std::string& fmt, const CallArgs& args, int* auto_index, int* mode,
                        int depth) {
  std::string out;
  for (size_t i = 0; i < fmt.size();) {
    const char c = fmt[i];
    if (c == '}') {
      if (i + 1 < fmt.size() && fmt[i + 1] == '}') {
        out += '}';
        i += 2;
        continue;
      }
      throw_error("Single '}' encountered in format string");
    }
    if (c != '{') {
      out += c;
      ++i;
      continue;
    }
    if (i + 1 < fmt.size() && fmt[i + 1] == '{') {
      out += '{';
      i += 2;
      continue;
    }
    // A replacement field: name, then !conversion, then :spec (which may hold nested fields).
    size_t j = i + 1;
    int brackets = 0;
    while (j < fmt.size()) {
      const char d = fmt[j];
      if (d == '[') ++brackets;
      if (d == ']') --brackets;
      if (brackets <= 0 && (d == '!' || d == ':' || d == '}' || d == '{')) break;
      ++j;
    }
    if (j >= fmt.size()) throw_error("expected '}' before end of string");
    if (fmt[j] == '{') throw_error("unexpected '{' in field name");
    const std::string field = fmt.substr(i + 1, j - i - 1);
    char conversion = 0;
    if (fmt[j] == '!') {
      if (j + 1 >= fmt.size()) throw_error("end of string while looking for conversion specifier");
      conversion = fmt[j + 1];
      j += 2;
      if (j >= fmt.size() || (fmt[j] != ':' && fmt[j] != '}')) {
        throw_error("expected ':' after conversion specifier");
      }
    }
    std::string spec;
    if (fmt[j] == ':') {
      int nest = 1;
      size_t k = ++j;
      for (; k < fmt.size(); ++k) {
        if (fmt[k] == '{') ++nest;
        if (fmt[k] == '}' && --nest == 0) break;
      }
      if (k >= fmt.size()) throw_error("expected '}' before end of string");
      spec = fmt.substr(j, k - j);
      j = k;
    }
    // Python's order: the field's value (taking its automatic number), its conversion, then the
    // fields nested in its spec; a field two specs deep is too deep.
    if (depth >= 2) throw_error("Max string recursion exceeded");
    Value v = lookup_field(field, args, auto_index, mode);
    if (conversion == 'r') {
      v = Value(v.repr());
    } else if (conversion == 'a') {
      v = Value(ascii_repr(v));
    } else if (conversion == 's') {
      v = Value(v.str());
    } else if (conversion != 0) {
      throw_error(std::string("Unknown conversion specifier ") + conversion);
    }
    out += format_value(v, format_impl(spec, args, auto_index, mode, depth + 1));
    if (out.size() > kMaxValueBytes) throw_error("string too large");
    i = j + 1;
  }
  return out;
}

}  // namespace

std::string percent_format(const std::string& fmt, const Value& args) {
  const bool is_tuple = args.is_tuple();
  const bool is_dict = args.is_dict() && !args.is_namespace();
  // Python skips the "not all arguments converted" check for anything with __getitem__.
  const bool is_mapping = is_dict || (args.is_list() && !is_tuple);
  size_t next = 0;              // next tuple item
  bool single_used = is_tuple;  // the non-tuple argument has been consumed
  bool used_mapping = false;
  auto next_arg = [&]() -> Value {
    if (is_tuple) {
      if (next >= args.as_list().size()) throw_error("not enough arguments for format string");
      return args.as_list()[next++];
    }
    if (single_used) throw_error("not enough arguments for format string");
    single_used = true;
    return args;
  };
  std::string out;
  for (size_t i = 0; i < fmt.size();) {
    if (fmt[i] != '%') {
      out += fmt[i++];
      continue;
    }
    if (++i >= fmt.size()) throw_error("incomplete format");
    PercentSpec s;
    Value key;
    if (fmt[i] == '%') {
      out += '%';
      ++i;
      continue;
    }
    if (fmt[i] == '(') {
      if (!is_dict) throw_error("format requires a mapping");
      int depth = 1;
      const size_t start = ++i;
      while (i < fmt.size() && depth > 0) {
        if (fmt[i] == '(') ++depth;
        if (fmt[i] == ')') --depth;
        ++i;
      }
      if (depth > 0) throw_error("incomplete format key");
      key = Value(fmt.substr(start, i - 1 - start));
      used_mapping = true;
    }
    for (; i < fmt.size(); ++i) {
      const char c = fmt[i];
      if (c == '-') {
        s.left = true;
      } else if (c == '+') {
        s.plus = true;
      } else if (c == ' ') {
        s.space = true;
      } else if (c == '#') {
        s.alt = true;
      } else if (c == '0') {
        s.zero = true;
      } else {
        break;
      }
    }
    auto star = [&](int64_t* field) {
      if (i < fmt.size() && fmt[i] == '*') {
        ++i;
        const Value w = next_arg();
        if (!w.is_int() && !w.is_bool()) throw_error("* wants int");
        *field = w.as_int();
        const auto limit = static_cast<int64_t>(kMaxValueBytes);
        if (*field > limit || *field < -limit) throw_error("string too large");
        return;
      }
      if (i < fmt.size() && is_digit(fmt[i])) *field = parse_int(fmt, &i);
    };
    star(&s.width);
    if (s.width < -1) {
      s.left = true;
      s.width = -s.width;
    }
    if (i < fmt.size() && fmt[i] == '.') {
      ++i;
      s.precision = 0;
      star(&s.precision);
    }
    while (i < fmt.size() && (fmt[i] == 'h' || fmt[i] == 'l' || fmt[i] == 'L')) ++i;
    if (i >= fmt.size()) throw_error("incomplete format");
    s.type = fmt[i++];
    Value v;
    if (!key.is_undefined()) {
      const Value* found = args.find(key);
      if (found == nullptr) throw_error("format: no key " + key.repr());
      v = *found;
      single_used = true;  // as in Python, a later "%s" without a key finds no argument
    } else {
      v = next_arg();
    }
    out += percent_one(v, s);
    if (out.size() > kMaxValueBytes) throw_error("string too large");
  }
  const bool leftover = is_tuple ? next < args.as_list().size() : !single_used;
  if (leftover && !is_mapping && !used_mapping) {
    throw_error("not all arguments converted during string formatting");
  }
  return out;
}

std::string str_format(const std::string& fmt, const CallArgs& args) {
  int auto_index = 0, mode = 0;
  return format_impl(fmt, args, &auto_index, &mode, 0);
}

std::string format_value(const Value& v, const std::string& spec) {
  if (spec.empty()) return v.str();
  const FormatSpec f = parse_spec(spec);
  if (f.grouping != 0 && (f.type == 'n' || f.type == 'c')) {
    throw_error(std::string("Cannot specify '") + f.grouping + "' with '" + f.type + "'.");
  }
  if (v.is_string()) {
    if (f.type != 0 && f.type != 's') unknown_code(f.type, v);
    if (f.sign != 0) throw_error("Sign not allowed in string format specifier");
    if (f.z) throw_error("Negative zero coercion (z) not allowed in string format specifier");
    if (f.alt) throw_error("Alternate form (#) not allowed in string format specifier");
    if (f.align == '=') throw_error("'=' alignment not allowed in string format specifier");
    if (f.grouping != 0) throw_error(std::string("Cannot specify '") + f.grouping + "' with 's'.");
    return pad(truncate_code_points(v.as_string(), f.precision), f.width,
               f.align != 0 ? f.align : '<', f.fill);
  }
  if (v.is_int() || v.is_bool()) {
    switch (f.type) {
      case 'e':
      case 'E':
      case 'f':
      case 'F':
      case 'g':
      case 'G':
      case '%':
        return format_float(v.as_double(), f, v);
      default:
        if (f.z) throw_error("Negative zero coercion (z) not allowed in integer format specifier");
        return format_int(v.as_int(), f, v);
    }
  }
  if (v.is_float()) return format_float(v.as_double(), f, v);
  throw_error("unsupported format string passed to " + v.type_name() + ".__format__");
}

}  // namespace shardserve::chat_template
