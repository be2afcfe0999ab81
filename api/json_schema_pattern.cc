// pattern_to_gbnf: a recursive-descent reader of ECMA-262 regular expressions that writes GBNF.
#include "api/json_schema_pattern.h"

#include <optional>
#include <vector>

#include "api/json_grammar_text.h"

namespace shardserve::api::json_grammar {

namespace {

constexpr uint64_t kMaxCount = 1'000'000;  // largest {m,n} bound read

CharSet digits() {
  return CharSet::range('0', '9');
}

CharSet word_chars() {
  CharSet set = CharSet::range('a', 'z');
  set.add('A', 'Z');
  set.add('0', '9');
  set.add('_', '_');
  return set;
}

// ECMA-262 WhiteSpace and LineTerminator.
CharSet space_chars() {
  CharSet set = CharSet::range('\t', '\r');  // \t \n \v \f \r
  for (const char32_t c : {0x20, 0xA0, 0x1680, 0x2028, 0x2029, 0x202F, 0x205F, 0x3000, 0xFEFF}) {
    set.add(c, c);
  }
  set.add(0x2000, 0x200A);
  return set;
}

// `.`: anything but a line terminator.
CharSet dot_chars() {
  CharSet line_ends = CharSet::single('\n');
  for (const char32_t c : {0x0D, 0x2028, 0x2029}) line_ends.add(c, c);
  return CharSet::all().minus(line_ends);
}

struct Quantifier {
  uint64_t min = 1;
  std::optional<uint64_t> max = 1;
};

// One parsed atom: a single character (merged into literals when not repeated), a set, or an
// already-rendered GBNF primary. `empty` atoms match only the empty string.
struct Atom {
  std::optional<char32_t> ch;
  std::string expr;
  bool empty = false;
};

class PatternParser {
 public:
  PatternParser(std::u32string pattern, std::string any_char)
      : p_(std::move(pattern)), any_char_(std::move(any_char)) {}

  Result<std::string> run() {
    std::string out = alternation(/*top=*/true);
    if (failed()) return Error::invalid_input(error_);
    if (i_ < p_.size()) return Error::invalid_input(where("unbalanced ')'"));
    return out;
  }

 private:
  bool failed() const { return !error_.empty(); }
  bool at_end() const { return i_ >= p_.size(); }
  char32_t peek(size_t ahead = 0) const { return i_ + ahead < p_.size() ? p_[i_ + ahead] : 0; }
  std::string where(const std::string& what, size_t at) const {
    return what + " (at offset " + std::to_string(at) + ")";
  }
  std::string where(const std::string& what) const { return where(what, i_); }
  void fail(const std::string& what) { fail_at(i_, what); }
  // Fails naming `at`, the offset where the offending construct starts.
  void fail_at(size_t at, const std::string& what) {
    if (!failed()) error_ = where(what, at);
  }

  // branch ( '|' branch )*. Empty branches make the whole group optional.
  std::string alternation(bool top) {
    std::vector<std::string> branches;
    bool has_empty = false;
    while (!failed()) {
      std::string branch = sequence(top);
      if (branch.empty()) {
        has_empty = true;
      } else {
        branches.push_back(std::move(branch));
      }
      if (at_end() || peek() != '|') break;
      ++i_;
    }
    if (failed() || branches.empty()) return "";
    if (!has_empty) return group_alternatives(branches);
    std::string body = group_alternatives(branches);
    if (branches.size() == 1) body = "( " + body + " )";
    return body + "?";
  }

  std::string sequence(bool top) {
    std::vector<std::string> parts;
    std::string literal;  // JSON-encoded text of consecutive single characters
    auto flush = [&] {
      if (!literal.empty()) parts.push_back(gbnf_literal(literal));
      literal.clear();
    };
    bool anchored_start = false;
    bool anchored_end = false;
    if (top && peek() == '^' && !at_end()) {
      anchored_start = true;
      ++i_;
    }
    while (!at_end() && !failed() && peek() != '|' && peek() != ')') {
      if (peek() == '^') return fail("'^' is supported only at the start of the pattern"), "";
      if (peek() == '$') {
        if (top && (i_ + 1 == p_.size() || p_[i_ + 1] == '|')) {
          anchored_end = true;
          ++i_;
          break;
        }
        return fail("'$' is supported only at the end of the pattern"), "";
      }
      Atom atom = parse_atom();
      if (failed()) return "";
      const Quantifier q = parse_quantifier();
      if (failed()) return "";
      if (atom.ch && q.min == 1 && q.max == 1u) {
        literal += json_escape_char(*atom.ch);
        continue;
      }
      flush();
      if (atom.empty) continue;
      const std::string primary = atom.ch ? gbnf_literal(json_escape_char(*atom.ch)) : atom.expr;
      std::string repeated = repeat(primary, q.min, q.max);
      if (!repeated.empty()) parts.push_back(std::move(repeated));
    }
    flush();
    if (top && !anchored_start) parts.insert(parts.begin(), any_char_ + "*");
    if (top && !anchored_end && !(parts.size() == 1 && !anchored_start)) {
      parts.push_back(any_char_ + "*");
    }
    std::string out;
    for (const auto& part : parts) out += (out.empty() ? "" : " ") + part;
    return out;
  }

  Atom parse_atom() {
    const char32_t c = peek();
    switch (c) {
      case '(':
        return parse_group();
      case '[': {
        const size_t start = i_++;
        const CharSet set = parse_class();
        if (!failed() && set.empty()) fail_at(start, "an empty character class matches nothing");
        return from_set(set);
      }
      case '.':
        ++i_;
        return from_set(dot_chars());
      case '\\': {
        ++i_;
        return parse_escape(/*in_class=*/false);
      }
      case '*':
      case '+':
      case '?':
        fail(cat({"nothing to repeat before '", std::string(1, static_cast<char>(c)), "'"}));
        return {};
      case '{':
        if (is_brace_quantifier()) fail("nothing to repeat before '{'");
        break;
      default:
        break;
    }
    ++i_;
    return Atom{c, "", false};
  }

  Atom from_set(const CharSet& set) {
    if (failed()) return {};
    if (set.empty()) {
      fail("an empty character class matches nothing");
      return {};
    }
    if (set.only()) return Atom{*set.only(), "", false};
    return Atom{std::nullopt, json_string_chars(set), false};
  }

  Atom parse_group() {
    const size_t start = i_++;  // '('
    if (peek() == '?') {
      if (peek(1) == ':') {
        i_ += 2;
      } else if (peek(1) == '<' && peek(2) != '=' && peek(2) != '!') {  // (?<name> ...)
        while (!at_end() && peek() != '>') ++i_;
        ++i_;
      } else if (peek(1) == '=' || peek(1) == '!') {
        fail_at(start,
                std::string("lookahead '(?") + static_cast<char>(peek(1)) + "' is not supported");
        return {};
      } else if (peek(1) == '<') {
        fail_at(start,
                std::string("lookbehind '(?<") + static_cast<char>(peek(2)) + "' is not supported");
        return {};
      } else {
        fail_at(start, "group modifier '(?' is not supported");
        return {};
      }
    }
    const std::string inner = alternation(/*top=*/false);
    if (failed()) return {};
    if (peek() != ')' || at_end()) {
      fail("missing ')'");
      return {};
    }
    ++i_;
    if (inner.empty()) return Atom{std::nullopt, "", true};
    return Atom{std::nullopt, "( " + inner + " )", false};
  }

  // After '['. ECMA: "[]" matches nothing, "[^]" anything.
  CharSet parse_class() {
    bool negated = false;
    if (peek() == '^' && !at_end()) {
      negated = true;
      ++i_;
    }
    CharSet set;
    while (!failed()) {
      if (at_end()) {
        fail("missing ']'");
        return {};
      }
      if (peek() == ']') {
        ++i_;
        break;
      }
      const size_t range_start = i_;
      CharSet lo = class_atom();
      if (failed()) return {};
      if (peek() == '-' && peek(1) != ']' && i_ + 1 < p_.size()) {
        ++i_;
        CharSet hi = class_atom();
        if (failed()) return {};
        if (!lo.only() || !hi.only()) {
          fail_at(range_start, "a class escape cannot bound a range");
          return {};
        }
        if (*lo.only() > *hi.only()) {
          fail_at(range_start, "range out of order in character class");
          return {};
        }
        set.add(*lo.only(), *hi.only());
      } else {
        set.add(lo);
      }
    }
    return negated ? set.complement() : set;
  }

  CharSet class_atom() {
    if (peek() != '\\') return CharSet::single(p_[i_++]);
    ++i_;
    Atom atom = parse_escape(/*in_class=*/true);
    if (failed()) return {};
    return atom.ch ? CharSet::single(*atom.ch) : escape_set_;
  }

  // After '\'. Class escapes (\d ...) leave their set in escape_set_ and return an Atom whose
  // expr renders it.
  Atom parse_escape(bool in_class) {
    const size_t start = i_ - 1;  // the backslash
    if (at_end()) {
      fail_at(start, "the pattern ends with '\\'");
      return {};
    }
    const char32_t c = p_[i_++];
    auto set_atom = [&](const CharSet& set) {
      escape_set_ = set;
      return in_class ? Atom{} : from_set(set);
    };
    switch (c) {
      case 'd':
        return set_atom(digits());
      case 'D':
        return set_atom(digits().complement());
      case 'w':
        return set_atom(word_chars());
      case 'W':
        return set_atom(word_chars().complement());
      case 's':
        return set_atom(space_chars());
      case 'S':
        return set_atom(space_chars().complement());
      case 't':
        return Atom{U'\t', "", false};
      case 'n':
        return Atom{U'\n', "", false};
      case 'r':
        return Atom{U'\r', "", false};
      case 'f':
        return Atom{U'\f', "", false};
      case 'v':
        return Atom{U'\v', "", false};
      case '0':
        if (peek() >= '0' && peek() <= '9') break;
        return Atom{U'\0', "", false};
      case 'x':
        return hex_escape(2);
      case 'u':
        if (peek() == '{') {
          fail_at(start, "'\\u{...}' escapes are not supported");
          return {};
        }
        return hex_escape(4);
      case 'b':
        if (in_class) return Atom{U'\b', "", false};
        fail_at(start, "word boundary '\\b' is not supported");
        return {};
      case 'B':
        fail_at(start, "word boundary '\\B' is not supported");
        return {};
      case 'k':
        fail_at(start, "backreference '\\k' is not supported");
        return {};
      case 'p':
      case 'P':
        fail_at(start, "unicode property escapes are not supported");
        return {};
      case 'c':
        fail_at(start, "control escapes '\\c' are not supported");
        return {};
      default:
        break;
    }
    const bool alnum = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
    if (!alnum) return Atom{c, "", false};  // identity escape of punctuation
    if (c >= '0' && c <= '9') {
      fail_at(start, "backreferences are not supported");
    } else {
      fail_at(start, std::string("unknown escape '\\") + static_cast<char>(c) + "'");
    }
    return {};
  }

  Atom hex_escape(int n) {
    char32_t value = 0;
    for (int k = 0; k < n; ++k) {
      const char32_t h = peek();
      int digit = -1;
      if (h >= '0' && h <= '9') digit = static_cast<int>(h - '0');
      if (h >= 'a' && h <= 'f') digit = static_cast<int>(h - 'a' + 10);
      if (h >= 'A' && h <= 'F') digit = static_cast<int>(h - 'A' + 10);
      if (digit < 0 || at_end()) {
        fail("malformed hex escape");
        return {};
      }
      value = value * 16 + digit;
      ++i_;
    }
    if (value >= 0xD800 && value <= 0xDFFF) {
      fail("surrogate escapes are not supported");
      return {};
    }
    return Atom{value, "", false};
  }

  bool is_brace_quantifier() const {
    size_t j = i_ + 1;
    auto digits_at = [&](size_t& k) {
      const size_t start = k;
      while (k < p_.size() && p_[k] >= '0' && p_[k] <= '9') ++k;
      return k > start;
    };
    if (!digits_at(j)) return false;
    if (j < p_.size() && p_[j] == ',') {
      ++j;
      digits_at(j);
    }
    return j < p_.size() && p_[j] == '}';
  }

  uint64_t read_count() {
    uint64_t value = 0;
    while (peek() >= '0' && peek() <= '9' && !at_end()) {
      value = value * 10 + (peek() - '0');
      if (value > kMaxCount) {
        fail(cat({"repetition count above ", std::to_string(kMaxCount)}));
        return 0;
      }
      ++i_;
    }
    return value;
  }

  Quantifier parse_quantifier() {
    Quantifier q;
    if (at_end()) return q;
    switch (peek()) {
      case '*':
        q = {0, std::nullopt};
        ++i_;
        break;
      case '+':
        q = {1, std::nullopt};
        ++i_;
        break;
      case '?':
        q = {0, 1};
        ++i_;
        break;
      case '{':
        if (!is_brace_quantifier()) return q;
        ++i_;
        q.min = read_count();
        q.max = q.min;
        if (peek() == ',') {
          ++i_;
          q.max = std::nullopt;
          if (peek() != '}') q.max = read_count();
        }
        ++i_;  // '}'
        if (q.max && *q.max < q.min) fail("repetition {m,n} with n < m");
        break;
      default:
        return q;
    }
    if (peek() == '?' && !at_end()) ++i_;  // lazy: the same strings match
    if (!at_end() && (peek() == '*' || peek() == '+' || peek() == '?' ||
                      (peek() == '{' && is_brace_quantifier()))) {
      fail("nothing to repeat (a quantifier follows a quantifier)");
    }
    return q;
  }

  std::u32string p_;
  std::string any_char_;
  size_t i_ = 0;
  std::string error_;
  CharSet escape_set_;  // the set of the last class escape read inside [...]
};

}  // namespace

Result<std::string> pattern_to_gbnf(std::string_view pattern, std::string_view any_char_rule) {
  auto chars = decode_utf8(pattern);
  if (!chars) return Error::invalid_input("the pattern is not valid UTF-8");
  return PatternParser(std::move(*chars), std::string(any_char_rule)).run();
}

}  // namespace shardserve::api::json_grammar
